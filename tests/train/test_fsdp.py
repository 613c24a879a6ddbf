"""FSDP as params/paper/accelerate/ configures it (full shard, one unit per decoder layer, activation checkpointing,
sharded checkpoints), run with torch FSDP on 2 gloo processes because accelerate refuses FSDP on a CPU: the loss and
gradients equal one process without FSDP, a sharded save loads back on 2 ranks and reshards to 1, and under bf16
mixed precision the RoPE frequencies stay fp32."""

from __future__ import annotations

import pytest
import torch

from tests.helpers.fsdp_workers import CONFIG, fsdp_worker, reference
from tests.helpers.markers import integration
from tests.helpers.train import run_distributed_test

pytestmark = integration


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    ckpt = tmp_path_factory.mktemp("fsdp") / "ckpt"
    ranks = run_distributed_test(fsdp_worker, 2, str(ckpt))
    return {"ref": reference(), "ranks": ranks, "ckpt": ckpt}


def test_two_ranks_equal_one_process(runs):
    ref, (r0, r1) = runs["ref"], runs["ranks"]
    assert r0["n_units"] == 1 + 2                    # the root and one unit per decoder layer (2 layers)
    assert r0["loss"] == pytest.approx(ref["loss"], rel=1e-6) and r0["loss"] == r1["loss"]
    assert set(r0["grads"]) == set(ref["grads"])
    for k, g in ref["grads"].items():
        torch.testing.assert_close(r0["grads"][k], g, rtol=1e-5, atol=1e-7)
    # and the AdamW step that follows: Adam's first step is about lr * sign(grad) = 3e-3 per weight, so a wrong step
    # would be off by that much; where a gradient is near zero float noise moves it by far less
    for k, w in ref["after"].items():
        torch.testing.assert_close(r0["after"][k], w, rtol=0, atol=1e-4)


def test_sharded_checkpoint_loads_and_reshards(runs):
    import torch.distributed.checkpoint as dcp

    r0 = runs["ranks"][0]
    for k, w in r0["after"].items():                 # 2 ranks -> 2 ranks
        assert torch.equal(r0["reloaded"][k], w), k
    # 2 ranks -> 1 process (another world size, as Stage 1 -> Stage 2): a plain model loads the shards
    from tests.helpers.fsdp_workers import _net

    net, _ = _net(checkpointing=False)
    sd = {"model": net.state_dict()}
    dcp.load(sd, checkpoint_id=str(runs["ckpt"]), no_dist=True)
    for k, w in r0["after"].items():
        assert torch.equal(sd["model"][k], w), k


def test_rope_stays_fp32_under_bf16_mixed_precision(runs):
    rope = runs["ranks"][0]["rope"]
    assert rope["dtype"] == "torch.float32"
    expected = 1.0 / (1.28e8 ** (torch.arange(0, 8, 2, dtype=torch.float32) / 8))   # head_dim 8 of the tiny model
    assert torch.equal(rope["inv_freq"], expected)


def test_fsdp_settings_are_the_config_files():
    from torch.distributed.fsdp import ShardingStrategy

    from prolong.train.fsdp import fsdp_settings

    for name in ("fsdp_1node.yaml", "fsdp_multinode.yaml"):
        kw = fsdp_settings(CONFIG.parent / name)
        assert kw["sharding_strategy"] == ShardingStrategy.FULL_SHARD and kw["use_orig_params"]
        assert kw["mixed_precision"].param_dtype == torch.bfloat16
