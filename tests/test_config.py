"""Strict params loading: unknown keys, wrong types and missing keys name the file and the key."""

from dataclasses import dataclass, field

import pytest

from prolong.config import Config, ConfigError


@dataclass
class Optim(Config):
    lr: float = 1e-5
    "peak learning rate"
    betas: list[float] = field(default_factory=lambda: [0.9, 0.95])
    "AdamW betas"


@dataclass
class Stage(Config):
    name: str
    "stage name"
    optim: Optim = field(default_factory=Optim)
    "optimizer"
    warmup: float = 0.1
    "warmup fraction"

    def __post_init__(self):
        if not 0 <= self.warmup <= 1:
            raise ConfigError(f"warmup must be in [0, 1], got {self.warmup}")


def _write(tmp_path, text):
    p = tmp_path / "stage.yaml"
    p.write_text(text)
    return p


def test_loads_nested_and_numeric_strings(tmp_path):
    cfg = Stage.from_yaml(_write(tmp_path, "name: s1\noptim:\n  lr: 2e-5\n"))
    assert cfg.optim.lr == 2e-5 and cfg.optim.betas == [0.9, 0.95]
    assert Stage.from_dict(cfg.to_dict()) == cfg


def test_unknown_key_names_file_and_key(tmp_path):
    p = _write(tmp_path, "name: s1\noptim:\n  lr: 1e-5\n  lr_peak: 3\n")
    with pytest.raises(ConfigError, match=r"stage\.yaml: optim.*unknown key 'lr_peak'"):
        Stage.from_yaml(p)


def test_wrong_type_and_missing_key(tmp_path):
    with pytest.raises(ConfigError, match=r"stage\.yaml: optim\.lr: expected a number"):
        Stage.from_yaml(_write(tmp_path, "name: s1\noptim:\n  lr: fast\n"))
    with pytest.raises(ConfigError, match="missing required key 'name'"):
        Stage.from_yaml(_write(tmp_path, "warmup: 0.1\n"))


def test_validation_in_post_init_names_file(tmp_path):
    with pytest.raises(ConfigError, match=r"stage\.yaml.*warmup must be in"):
        Stage.from_yaml(_write(tmp_path, "name: s1\nwarmup: 2\n"))


def test_missing_and_broken_files(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        Stage.from_yaml(tmp_path / "nope.yaml")
    with pytest.raises(ConfigError, match="not valid YAML"):
        Stage.from_yaml(_write(tmp_path, "name: [unclosed\n"))
