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


@pytest.mark.parametrize("value", [".inf", "-.inf", ".nan", "1e400", "'inf'"])
def test_non_finite_numbers_are_refused(tmp_path, value):
    """`lr: .inf` used to train to NaN from step 2 and mark the run done."""
    with pytest.raises(ConfigError, match=r"stage\.yaml: optim\.lr: .* is not a finite number"):
        Stage.from_yaml(_write(tmp_path, f"name: s1\noptim:\n  lr: {value}\n"))
    with pytest.raises(ConfigError, match=r"optim\.betas\[1\]: .* is not a finite number"):
        Stage.from_yaml(_write(tmp_path, f"name: s1\noptim:\n  betas: [0.9, {value}]\n"))


def test_duplicate_key_names_both_lines(tmp_path):
    """PyYAML keeps the last of two equal keys silently; a params file with one is refused."""
    text = "name: s1\noptim:\n  lr: 1e-5\n  betas: [0.9, 0.95]\n  lr: 1e-3\n"
    with pytest.raises(ConfigError, match=r"stage\.yaml: not valid YAML: key 'lr' appears twice, on line 3 and on "
                                          r"line 5"):
        Stage.from_yaml(_write(tmp_path, text))
    with pytest.raises(ConfigError, match="key 'name' appears twice, on line 1 and on line 2"):
        Stage.from_yaml(_write(tmp_path, "name: s1\nname: s2\n"))
    # the same key in two different mappings is fine
    assert Stage.from_yaml(_write(tmp_path, "name: s1\noptim: {lr: 1e-4}\n")).optim.lr == 1e-4


def test_yaml_merge_keys_still_load(tmp_path):
    from prolong.config import read_yaml

    data = read_yaml(_write(tmp_path, "a: &a {lr: 1, steps: 2}\nb:\n  <<: *a\n  lr: 3\n"))
    assert data["b"] == {"lr": 3, "steps": 2}


def test_invalid_utf8_names_file_and_line(tmp_path):
    p = tmp_path / "stage.yaml"
    p.write_bytes(b"name: s1\noptim:\n  lr: 1e-5 # caf\xe9\n")
    with pytest.raises(ConfigError, match=r"stage\.yaml:3: not valid UTF-8 \(byte 0xe9\)"):
        Stage.from_yaml(p)
