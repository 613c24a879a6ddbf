"""params/small/: the one-GPU scale on SmolLM2-135M-Instruct is planned without a GPU (one `prolong train` per
stage, no launcher) and its params are the recipe's: Stage 1 at 32K with theta x16, Stage 2 at 64K, SFT from Stage 2."""

import pytest
import torch
import yaml

from prolong import paths
from prolong.experiments.section import run_section
from prolong.train.config import TrainParams

SMALL = paths.REPO_ROOT / "params" / "small"


def test_stages_are_the_recipe_on_smollm2():
    s1, s2, sft = (TrainParams.from_yaml(SMALL / "stages" / f"{n}.yaml") for n in ("stage1", "stage2", "sft"))
    assert s1.model.pretrained == s2.model.pretrained == "models/SmolLM2-135M-Instruct"
    assert (s1.data.seq_len, s1.model.rope_theta) == (32768, 1.6e6)  # 4x the 8K window, theta 1e5 x16
    assert (s2.data.seq_len, s2.model.rope_theta, s2.train.sequence_parallel_size) == (65536, 6.4e6, 1)
    assert s2.train.init_from == f"train/{s1.name}" and sft.train.init_from == f"train/{s2.name}"
    assert sft.data.sft is not None and sft.model.rope_theta == s2.model.rope_theta
    for p in (s1, s2, sft):
        assert p.train.precision == "bf16" and p.train.micro_batch_size == 1
        mix = p.data.mixture_path() if p.data.mixture else None
        if mix is not None:
            stores = [d["store"] for d in yaml.safe_load(mix.read_text())["domains"].values()]
            assert all(s.startswith("small/stores/") for s in stores), stores


@pytest.mark.skipif(torch.cuda.is_available(), reason="with a GPU the small scale runs instead of planning")
def test_small_scale_is_planned_as_one_gpu_commands():
    out = run_section(["T18", "T10"], "small")
    t18 = out["T18"]
    trains = [c for c in t18 if c.startswith("prolong train --params ")]
    assert len(trains) == 6 and not any("sbatch" in c or "accelerate" in c for c in t18)  # 3 arms x (stage, SFT)
    thetas = sorted({yaml.safe_load(open(c.split()[-1]))["model"]["rope_theta"] for c in trains
                     if "ablation" in c})
    assert thetas == [1e5, 8e5, 1.6e6]
    t10 = [c.split()[-1] for c in out["T10"] if c.startswith("prolong train")]
    assert [yaml.safe_load(open(p))["data"]["seq_len"] for p in t10] == [32768, 65536, 32768]
    assert (paths.build_dir() / "launch" / "T18" / "launch.sh").is_file()
