"""Workers of tests/train/test_fsdp.py (module level: spawned processes import them by name)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from prolong import paths
from tests.helpers.train import CountingStream, tiny_params

CONFIG = paths.PARAMS_DIR / "paper" / "accelerate" / "fsdp_multinode.yaml"
N_SEQS = 4


def _net(checkpointing: bool):
    import torch

    from prolong.model.build import CausalLMWithLoss, build_model
    from prolong.train.parallelize import apply_activation_checkpointing

    params = tiny_params(model__rope_theta=1.28e8, model__max_position_embeddings=524_288)
    torch.manual_seed(0)
    lm = build_model(params.model)
    if checkpointing:
        apply_activation_checkpointing(lm)
    return CausalLMWithLoss(lm, params.model.loss_block_size), params


def _batches(rank: int, world: int):
    from prolong.train.batching import make_micro_batch

    stream = CountingStream(64, 3, rank, world, sft=True)
    return [make_micro_batch([next(stream)]) for _ in range(N_SEQS // world)]


def reference() -> dict[str, Any]:
    """One process, no FSDP, no checkpointing: the exact token average over all N_SEQS sequences and its gradients;
    then one AdamW step."""
    import torch

    from prolong.train.loop import make_optimizer

    net, params = _net(checkpointing=False)
    mbs = _batches(0, 1)
    n = sum(mb.n_targets for mb in mbs)
    total = 0.0
    for mb in mbs:
        loss_sum, _ = net(**mb.model_inputs("cpu"))
        (loss_sum / n).backward()
        total += float(loss_sum)
    grads = {k: p.grad.clone() for k, p in net.named_parameters()}
    opt = make_optimizer(net, params.optim)
    opt.step()
    return {"loss": total / n, "grads": grads, "after": {k: v.detach().clone() for k, v in net.state_dict().items()}}


def fsdp_worker(rank: int, world: int, ckpt: str) -> dict[str, Any]:
    """The paper's FSDP wrapping (fsdp_multinode.yaml) with activation checkpointing on `world` gloo ranks: the step's
    loss and full gradients, one AdamW step, a sharded save (torch.distributed.checkpoint), a load into a fresh
    wrapped model; then a bf16 mixed-precision forward and the RoPE frequencies it ran with."""
    import torch
    import torch.distributed as dist
    import torch.distributed.checkpoint as dcp
    from torch.distributed.fsdp import FullyShardedDataParallel as FSDP, StateDictType

    from prolong.train.distributed import setup_distributed
    from prolong.train.fsdp import wrap_fsdp
    from prolong.train.loop import forward_backward, make_optimizer

    acc = setup_distributed("fp32")
    net, params = _net(checkpointing=True)
    net = wrap_fsdp(net, CONFIG, mixed_precision=False)
    n_units = sum(isinstance(m, FSDP) for m in net.modules())
    opt = make_optimizer(net, params.optim)
    out = forward_backward(acc, net, _batches(rank, world))   # backward of loss_sum * world / n_step, as the loop
    with FSDP.summon_full_params(net, with_grads=True):
        grads = {k.replace("_fsdp_wrapped_module.", "").replace("_checkpoint_wrapped_module.", ""): p.grad.clone()
                 for k, p in net.named_parameters()}
    opt.step()
    with FSDP.state_dict_type(net, StateDictType.SHARDED_STATE_DICT):
        dcp.save({"model": net.state_dict()}, checkpoint_id=ckpt)
    with FSDP.state_dict_type(net, StateDictType.FULL_STATE_DICT):
        after = {k: v.clone() for k, v in net.state_dict().items()}
    # a fresh wrapped model loads the sharded checkpoint
    fresh, _ = _net(checkpointing=True)
    fresh = wrap_fsdp(fresh, CONFIG, mixed_precision=False)
    with FSDP.state_dict_type(fresh, StateDictType.SHARDED_STATE_DICT):
        sd = {"model": fresh.state_dict()}
        dcp.load(sd, checkpoint_id=ckpt)
        fresh.load_state_dict(sd["model"])
    with FSDP.state_dict_type(fresh, StateDictType.FULL_STATE_DICT):
        reloaded = {k: v.clone() for k, v in fresh.state_dict().items()}
    # bf16 mixed precision (as the config says): the RoPE frequencies the forward used
    mp, _ = _net(checkpointing=False)
    mp = wrap_fsdp(mp, CONFIG)
    seen = {}
    rot = next(m for m in mp.modules() if type(m).__name__ == "LlamaRotaryEmbedding")
    rot.register_forward_hook(lambda m, a, o: seen.update(dtype=str(m.inv_freq.dtype), inv_freq=m.inv_freq.clone(),
                                                         cos=o[0].float().clone()))
    mb = _batches(rank, world)[0]
    with torch.no_grad():
        mp(**mb.model_inputs("cpu"))
    dist.barrier()
    return {"loss": out["loss"], "grads": grads, "after": after, "reloaded": reloaded, "n_units": n_units,
            "rope": seen}
