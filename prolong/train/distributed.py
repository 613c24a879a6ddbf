"""Distributed set-up in one place, and the few collectives the loop needs.

The same loop runs as
  one CPU process                       prolong train --params params/tiny/stages/stage1.yaml
  N CPU processes (gloo, DDP)           torchrun --nproc_per_node 2 -m prolong.cli train --params ...
                                        (or accelerate launch --cpu --num_processes 2 -m prolong.cli train ...)
  GPUs with FSDP (full sharding per     accelerate launch --config_file params/paper/accelerate/fsdp_1node.yaml
  decoder layer, bf16)                    -m prolong.cli train --params params/paper/stages/stage1.yaml
The parallelism comes from the launcher's environment (accelerate reads its config file or the torchrun variables);
the training code only sees an `Accelerator`. Sequence parallelism (train.sequence_parallel_size, paper: 8 at 512K)
splits those ranks into data-parallel groups that share every sequence; the loop sets it up right after this
(prolong.train.parallelize.init_layout, then parallelize), e.g.
  torchrun --nproc_per_node 2 -m prolong.cli train --params ...aml   with sequence_parallel_size: 2 -> 1 group of 2
"""

from __future__ import annotations

import pickle
from typing import Any, Callable, TypeVar

import torch
import torch.distributed as dist
from accelerate import Accelerator
from accelerate.state import AcceleratorState, GradientState
from accelerate.utils import DistributedType

T = TypeVar("T")


def setup_distributed(precision: str = "auto") -> Accelerator:
    """An Accelerator for this process: CPU (gloo when launched with several processes) or CUDA (NCCL; FSDP when the
    accelerate config says so). precision: "auto" (bf16 on CUDA, fp32 on CPU), "bf16" or "fp32". bf16 on a CPU is
    torch's CPU autocast (slow, but the paper scale's numerics: the real-model tests train SmolLM2 so)."""
    cuda = torch.cuda.is_available()
    mixed = "bf16" if (precision == "bf16" or (precision == "auto" and cuda)) else "no"
    # A second loop in the same process (tests, Stage 1 then Stage 2) starts from a clean accelerate state; the
    # process group itself (PartialState) is kept.
    AcceleratorState._reset_state(reset_partial_state=False)
    GradientState._reset_state()
    return Accelerator(cpu=not cuda, mixed_precision=mixed)


def is_ddp(acc: Accelerator) -> bool:
    """Whether gradients are averaged by DDP (no_sync may skip that on accumulation micro-batches)."""
    return acc.distributed_type in (DistributedType.MULTI_CPU, DistributedType.MULTI_GPU)


def all_reduce_sum(acc: Accelerator, value: torch.Tensor) -> torch.Tensor:
    """Sum of a tensor over ranks (a copy; identity with one process)."""
    value = value.detach().clone().to(acc.device)
    if acc.num_processes > 1:
        dist.all_reduce(value, op=dist.ReduceOp.SUM)
    return value


def gather_objects(acc: Accelerator, obj: Any) -> list[Any]:
    """Every rank's `obj` (picklable), in rank order, on every rank."""
    if acc.num_processes == 1:
        return [obj]
    out: list[Any] = [None] * acc.num_processes
    dist.all_gather_object(out, obj)
    return out


def broadcast_object(acc: Accelerator, obj: T) -> T:
    """Rank 0's `obj` (picklable) on every rank."""
    if acc.num_processes == 1:
        return obj
    box = [obj if acc.is_main_process else None]
    dist.broadcast_object_list(box, src=0)
    return box[0]


def on_main_then_all(acc: Accelerator, fn: Callable[[], T], then: Callable[[], T] | None = None) -> T:
    """Run `fn` on rank 0 first (e.g. create a run directory), then `then` (default `fn`) on the other ranks. An
    exception on rank 0 is raised on every rank instead of leaving the others waiting at a barrier."""
    if acc.num_processes == 1:
        return fn()
    error: list[Any] = [None]
    result = None
    if acc.is_main_process:
        try:
            result = fn()
        except Exception as err:  # noqa: BLE001 - re-raised below on every rank
            error = [pickle.dumps(err)]
    dist.broadcast_object_list(error, src=0)
    if error[0] is not None:
        raise pickle.loads(error[0])
    if not acc.is_main_process:
        result = (then or fn)()
    acc.wait_for_everyone()
    return result
