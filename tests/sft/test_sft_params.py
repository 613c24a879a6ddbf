"""params/paper/stages/sft.yaml is the paper's SFT column (PAPER.md, "The recipe"); params/tiny/stages/sft.yaml loads."""

import pytest
import yaml

from prolong import paths
from prolong.config import ConfigError
from prolong.sft.config import SFTDataConfig
from prolong.train.config import TrainParams

PAPER = paths.PARAMS_DIR / "paper" / "stages" / "sft.yaml"
TINY = paths.PARAMS_DIR / "tiny" / "stages" / "sft.yaml"


def _load(path):
    """Through the training loop's params (data.sft instead of data.mixture)."""
    return TrainParams.from_yaml(path)


def test_paper_sft_matches_the_recipe():
    p = _load(PAPER)
    stage2 = yaml.safe_load((paths.PARAMS_DIR / "paper" / "stages" / "stage2.yaml").read_text())
    assert p.train.init_from == f"train/{stage2['name']}"        # start from the Stage-2 checkpoint
    assert p.data.seq_len == 65536                                                 # packed to 64K
    assert p.train.steps == 250 and p.train.batch_size == 64                       # 250 steps x (64 x 64K)
    assert p.train.batch_size * p.data.seq_len == 4 * 2**20                        # 4M tokens per step
    assert abs(p.train.steps * p.train.batch_size * p.data.seq_len / 1e9 - 1.0) < 0.05   # 1B tokens
    assert p.optim.lr == 2e-5 and p.optim.warmup_fraction == 0.05 and p.optim.min_lr_ratio == 0.1
    assert p.optim.betas == [0.9, 0.95] and p.optim.weight_decay == 0.1 and p.optim.grad_clip == 1.0
    assert p.model.rope_theta == float(stage2["model"]["rope_theta"])             # inherited
    assert p.train.checkpoint_every == 125 and p.train.precision == "bf16"
    # short UltraChat only: ProLong's released prolong-ultrachat-64K (packed, with its assistant-token `mask`)
    from prolong.data.config import MixtureConfig

    assert p.data.sft is None
    assert MixtureConfig.from_yaml(p.data.mixture_path()).proportions() == {"prolong-ultrachat-64K": 1.0}


def test_tiny_sft_params_load_with_the_ablation_switch_off():
    p = _load(TINY)
    assert p.data.sft.proportions() == {"instructions": 1.0}
    assert "synthetic_long" in p.data.sft.sources
    assert p.train.init_from == "train/tiny-stage2"


def test_data_takes_exactly_one_of_mixture_and_sft():
    raw = yaml.safe_load(TINY.read_text())
    both = {**raw, "data": {**raw["data"], "mixture": "params/tiny/mixtures/stage1.yaml"}}
    with pytest.raises(ConfigError, match="exactly one of 'mixture'"):
        TrainParams.from_dict(both, "both")
    neither = {**raw, "data": {k: v for k, v in raw["data"].items() if k != "sft"}}
    with pytest.raises(ConfigError, match="exactly one of 'mixture'"):
        TrainParams.from_dict(neither, "neither")
    assert TrainParams.from_dict(raw, "tiny").data.mixture is None
