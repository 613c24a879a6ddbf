"""Parallelism in one place (after torchtitan's `parallelize`): where this rank sits, and what that does to the model.

The world of W ranks is a dp_size x sp_size grid. Ranks [g sp, (g + 1) sp) form sequence-parallel (SP) group g, which
is also data-parallel rank g: consecutive ranks, so an SP group stays inside one node whenever sp_size divides the
GPUs per node (the all-to-all then runs over NVLink).

    rank:      0  1  2  3  4  5  6  7          W = 8, sp_size = 4
    dp_rank:   0  0  0  0  1  1  1  1          the ranks of an SP group read the same sequences (stream of dp_rank)
    sp_rank:   0  1  2  3  0  1  2  3          ... and each keeps chunk sp_rank of every micro-batch

`parallelize` applies, in this order:
  1. sequence parallelism: attention -> the "prolong_doc_sp" wrapper (prolong.model.ulysses) and the SP group set
     for the whole process (so gradient-checkpoint recomputation in backward sees it too);
  2. activation checkpointing (per decoder layer, non-reentrant), when the model config asks for it; it wraps the
     layers' forward, which by then calls the SP attention;
  3. the loss wrapper, the optimizer, then accelerate's `prepare`: DDP, or FSDP (full sharding per decoder layer) when
     the launcher's accelerate config says so. It comes last because it wraps (and under FSDP flattens) the
     parameters that the optimizer was built on, and gradients are reduced over all dp * sp ranks, which sums the
     contributions of the SP ranks (disjoint tokens of the same sequences).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import torch
import torch.distributed as dist
from accelerate import Accelerator
from transformers import PreTrainedModel

from prolong.model.build import CausalLMWithLoss
from prolong.model.ulysses import enable_sequence_parallel, set_sequence_parallel_group


@dataclass(frozen=True)
class ParallelLayout:
    """Where one rank sits in a world of dp_size x sp_size ranks, and its SP process group (None when sp_size 1)."""

    rank: int
    world_size: int
    dp_rank: int
    dp_size: int
    sp_rank: int
    sp_size: int
    sp_group: Any = field(default=None, compare=False)

    @property
    def sp_ranks(self) -> list[int]:
        """Global ranks of this rank's SP group, in sp_rank order."""
        return [self.dp_rank * self.sp_size + i for i in range(self.sp_size)]

    def micro_batches_per_step(self, batch_size: int, micro_batch_size: int) -> int:
        """Micro-batches one SP group (every one of its ranks) runs per optimizer step: batch_size / dp_size
        sequences (the ranks of a group read the *same* sequences), in micro-batches of micro_batch_size."""
        if batch_size % self.dp_size or (batch_size // self.dp_size) % micro_batch_size:
            raise ValueError(f"train.batch_size {batch_size} does not split into {self.dp_size} data-parallel groups "
                             f"({self.world_size} ranks / sequence_parallel_size {self.sp_size}) x micro-batches of "
                             f"{micro_batch_size}")
        return batch_size // self.dp_size // micro_batch_size


def layout_of(rank: int, world_size: int, sp_size: int, sp_group: Any = None) -> ParallelLayout:
    """The pure layout arithmetic (no process group): world = dp * sp, SP group = rank // sp."""
    if sp_size <= 0 or world_size <= 0 or not 0 <= rank < world_size:
        raise ValueError(f"bad layout: rank {rank}, world_size {world_size}, sp_size {sp_size}")
    if world_size % sp_size:
        raise ValueError(f"world size {world_size} is not a multiple of the sequence-parallel size {sp_size}")
    return ParallelLayout(rank, world_size, rank // sp_size, world_size // sp_size, rank % sp_size, sp_size,
                          sp_group)


def check_layout_fits(sp_size: int, world_size: int, batch_size: int, micro_batch_size: int) -> None:
    """Refuse, as a params error, a sequence-parallel size or batch this launch of `world_size` processes cannot
    run; called before anything is created, so the corrected rerun starts clean."""
    from prolong.config import ConfigError

    if sp_size > 1 and world_size == 1:
        raise ConfigError(f"train.sequence_parallel_size {sp_size} needs {sp_size} or more processes, this launch "
                          f"has one (launch with torchrun --nproc_per_node {sp_size} -m prolong.cli train ..., or "
                          "set train.sequence_parallel_size: 1)")
    try:
        layout_of(0, world_size, sp_size).micro_batches_per_step(batch_size, micro_batch_size)
    except ValueError as err:
        raise ConfigError(f"train.sequence_parallel_size / train.batch_size: {err}") from err


def init_layout(sp_size: int) -> ParallelLayout:
    """This rank's layout and SP group in the initialised default process group. Every rank must call this, in the
    same order (`new_group` is collective). One process: a one-rank layout (sp_size must be 1)."""
    if not dist.is_available() or not dist.is_initialized():
        if sp_size != 1:
            raise RuntimeError(f"sequence_parallel_size {sp_size} needs an initialised torch.distributed process group")
        return layout_of(0, 1, 1)
    lay = layout_of(dist.get_rank(), dist.get_world_size(), sp_size)
    mine = None
    for g in range(lay.dp_size):  # every rank creates every group, keeps its own
        group = dist.new_group(list(range(g * sp_size, (g + 1) * sp_size))) if sp_size > 1 else None
        if g == lay.dp_rank:
            mine = group
    return layout_of(lay.rank, lay.world_size, sp_size, mine)


def apply_sequence_parallel(lm: PreTrainedModel, layout: ParallelLayout) -> None:
    """Attention exchanges heads over the SP group (the wrapper is plain document attention without a group)."""
    if layout.sp_size > 1:
        enable_sequence_parallel(lm)
    set_sequence_parallel_group(layout.sp_group)  # process-wide (None clears a previous run's group)


def apply_activation_checkpointing(lm: PreTrainedModel) -> None:
    """Recompute each decoder layer in backward (transformers' per-layer checkpointing; training mode only)."""
    lm.gradient_checkpointing_enable(gradient_checkpointing_kwargs={"use_reentrant": False})


def parallelize(lm: PreTrainedModel, layout: ParallelLayout, acc: Accelerator, *, gradient_checkpointing: bool,
                loss_block_size: int, make_optimizer: Callable[[torch.nn.Module], torch.optim.Optimizer]
                ) -> tuple[torch.nn.Module, torch.optim.Optimizer]:
    """The model of a stage ready to train on this rank, in the order of the module docstring. Returns the prepared
    (loss-wrapped) network and its optimizer."""
    apply_sequence_parallel(lm, layout)                          # 1. SP attention + group
    if gradient_checkpointing:
        apply_activation_checkpointing(lm)                       # 2. activation checkpointing
    net = CausalLMWithLoss(lm, block_size=loss_block_size)      # 3. loss next to the lm_head (gathered under FSDP)
    optimizer = make_optimizer(net)
    net, optimizer = acc.prepare(net, optimizer)                 #    DDP / FSDP from accelerate's config
    return net, optimizer
