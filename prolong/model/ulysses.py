"""Ulysses sequence parallelism inside the forward (DeepSpeed-Ulysses style), exact when documents cross chunk boundaries.

At 512K the paper shards every packed sequence over the P ranks of a sequence-parallel (SP) group. Each rank holds
one contiguous chunk of C = T / P tokens and runs the whole model on it; only attention needs other chunks, so around
attention the ranks exchange heads with an all-to-all:

    q/k/v  (1, H, C, hs) sequence-sharded  --all-to-all-->  (1, H/P, T, hs) head-sharded
    document attention over the full T tokens (global cu_seqlens) for this rank's H/P heads
    out    (1, T, H/P, hs) head-sharded    --all-to-all-->  (1, C, H, hs) sequence-sharded

Everything else (embeddings, MLPs, norms, the block-wise loss) is token-wise and runs on the local chunk unchanged.

This module holds only what runs inside the forward: the differentiable all-to-all and the attention wrapper. The
rest lives where it is used: the rank layout (dp x sp groups) and `parallelize` in prolong/train/parallelize.py; how
a micro-batch is cut into chunks (labels and positions built on the whole row, then sliced; the *global* cu_seqlens
passed to every rank; T padded to a multiple of P) in prolong/train/batching.py (`MicroBatch.shard`).

Fast path: when every chunk boundary is also a document boundary, no document needs another chunk, so each rank
runs document attention on its own chunk for all heads and the all-to-alls are skipped. The decision is a function
of the global cu_seqlens, which all ranks of a group share, so they always agree. (The public release skipped SP
when every document was *shorter* than a chunk; a short document can still straddle a boundary and was silently cut
there. Here a straddling document always takes the all-to-all path.)

Grouped-query attention: the query heads of rank r are [r H/P, (r+1) H/P). With Hkv % P == 0 the KV heads split
the same way; with P % Hkv == 0 (e.g. Llama-3-8B's 8 KV heads at degree 16, or 2 KV heads at degree 4) each KV head
is repeated P / Hkv times before the all-to-all so that rank r receives exactly the KV head its queries use.

Loss: each rank returns the loss *sum* over its chunk's targets and its local target count; the loop all-reduces the
counts over all ranks (every token is counted once: chunks are disjoint) and divides, so the token-averaged loss of
a step is exact. Gradients flow back through the all-to-all (its backward is the reverse all-to-all); the data-
parallel gradient reduction over *all* ranks (DDP/FSDP over dp * sp ranks) then sums the contributions of the SP
ranks, which own disjoint tokens of the same sequence.

Transport: NCCL and gloo (torch >= 2.x) use `all_to_all_single`. A backend without it can use the `all_gather`
fallback (every rank gathers every rank's send buffer and keeps the pieces addressed to it: correct and
differentiable through the same autograd Function, but P times the traffic). Select with `sequence_parallel(group,
transport=...)`; "auto" tries all_to_all_single once and falls back if the backend refuses it.

Plugging in: the attention function is registered as "prolong_doc_sp" in transformers' AttentionInterface
(`enable_sequence_parallel(model)` switches a model to it). It reads the SP group from a module-level context
(`sequence_parallel(group)` or `set_sequence_parallel_group(group)`); with no group set it is exactly
`document_attention`. With gradient checkpointing the context must also be active during backward (recomputation).
"""

from __future__ import annotations

from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Iterator, Literal

import numpy as np
import torch
import torch.distributed as dist
from transformers import AttentionInterface, PreTrainedModel

from prolong.model.attention import cu_seqlens_from_doc_lens, document_attention, position_ids_from_doc_lens

SP_ATTN_IMPLEMENTATION = "prolong_doc_sp"
Transport = Literal["auto", "all_to_all_single", "all_gather"]


# ---- which chunk boundaries documents cross ------------------------------------------------------------------------

def needs_all_to_all(cu_seqlens: torch.Tensor | np.ndarray | list[int], seq_len: int, sp_size: int) -> bool:
    """Whether some document crosses a chunk boundary (then attention needs the all-to-all). All ranks of a group
    hold the same cu_seqlens, so they agree."""
    if sp_size == 1:
        return False
    cu = set(np.asarray(cu_seqlens.tolist() if isinstance(cu_seqlens, torch.Tensor) else cu_seqlens).tolist())
    c = seq_len // sp_size
    return any(r * c not in cu for r in range(1, sp_size))


def local_cu_seqlens(cu_seqlens: list[int], start: int, end: int) -> list[int]:
    """The global document boundaries clipped to the chunk [start, end) and shifted to start at 0."""
    inner = [b - start for b in cu_seqlens if start < b < end]
    return [0, *inner, end - start]


# ---- the differentiable all-to-all ---------------------------------------------------------------------------------

@dataclass
class CommStats:
    """Bytes this rank's all-to-alls moved (sent to *other* ranks; the piece addressed to itself stays local)."""

    forward_bytes: int = 0
    backward_bytes: int = 0
    forward_calls: int = 0
    backward_calls: int = 0

    def reset(self) -> None:
        self.forward_bytes = self.backward_bytes = self.forward_calls = self.backward_calls = 0


COMM_STATS = CommStats()


def _exchange(x: torch.Tensor, scatter_dim: int, gather_dim: int, group: Any, transport: str) -> torch.Tensor:
    """Split x in P pieces along scatter_dim, send piece j to rank j, concatenate the received pieces (in rank
    order) along gather_dim."""
    P = dist.get_world_size(group)
    if x.shape[scatter_dim] % P:
        raise ValueError(f"all-to-all: dim {scatter_dim} of size {x.shape[scatter_dim]} does not split over {P} ranks")
    send = torch.stack(x.chunk(P, dim=scatter_dim)).contiguous()  # (P, *piece)
    if transport == "all_gather":
        everything = [torch.empty_like(send) for _ in range(P)]
        dist.all_gather(everything, send, group=group)
        me = dist.get_rank(group)
        recv = torch.stack([everything[i][me] for i in range(P)])
    else:
        recv = torch.empty_like(send)
        dist.all_to_all_single(recv, send, group=group)
    return torch.cat(recv.unbind(0), dim=gather_dim)


class _AllToAll(torch.autograd.Function):
    """all-to-all whose backward is the reverse all-to-all (scatter and gather dims swapped)."""

    @staticmethod
    def forward(ctx, x, scatter_dim, gather_dim, group, transport):  # type: ignore[override]
        ctx.dims, ctx.group, ctx.transport = (scatter_dim, gather_dim), group, transport
        P = dist.get_world_size(group)
        COMM_STATS.forward_bytes += x.numel() * x.element_size() * (P - 1) // P
        COMM_STATS.forward_calls += 1
        return _exchange(x, scatter_dim, gather_dim, group, transport)

    @staticmethod
    def backward(ctx, grad):  # type: ignore[override]
        scatter_dim, gather_dim = ctx.dims
        P = dist.get_world_size(ctx.group)
        COMM_STATS.backward_bytes += grad.numel() * grad.element_size() * (P - 1) // P
        COMM_STATS.backward_calls += 1
        return _exchange(grad.contiguous(), gather_dim, scatter_dim, ctx.group, ctx.transport), None, None, None, None


def all_to_all(x: torch.Tensor, scatter_dim: int, gather_dim: int, group: Any, transport: Transport = "auto"
               ) -> torch.Tensor:
    """Differentiable all-to-all over `group`: shape[scatter_dim] / P, shape[gather_dim] * P."""
    return _AllToAll.apply(x, scatter_dim, gather_dim, group, _resolve_transport(transport, group))


_transport_probe: dict[Any, str] = {}


def _resolve_transport(transport: str, group: Any) -> str:
    if transport != "auto":
        if transport not in ("all_to_all_single", "all_gather"):
            raise ValueError(f"unknown transport {transport!r}")
        return transport
    if group not in _transport_probe:  # one collective probe per group (all ranks reach it together)
        probe = torch.zeros(dist.get_world_size(group), device=_group_device(group))
        try:
            dist.all_to_all_single(torch.empty_like(probe), probe, group=group)
            _transport_probe[group] = "all_to_all_single"
        except (RuntimeError, NotImplementedError):  # e.g. an old gloo without alltoall
            _transport_probe[group] = "all_gather"
    return _transport_probe[group]


def _group_device(group: Any) -> torch.device:
    backend = dist.get_backend(group)
    return torch.device("cuda", torch.cuda.current_device()) if backend == "nccl" else torch.device("cpu")


def a2a_bytes_per_layer(seq_len: int, n_heads: int, n_kv_heads: int, head_dim: int, sp_size: int,
                        bytes_per_elem: int = 2) -> dict[str, int]:
    """Bytes one rank sends to the others per decoder layer (formula). Forward: q (C, H, hs), k and v (C, Hkv', hs)
    and the output (T, H/P, hs) = (C, H, hs) pass through an all-to-all, each keeping 1/P at home; backward moves
    the same gradients the other way. Hkv' = max(Hkv, P) after the GQA repeat. Per layer and rank:
    (P-1)/P * C * hs * (2 H + 2 Hkv') * bytes, i.e. it *falls* as 1/P per rank (total over the group ~ T)."""
    if sp_size == 1:
        return {"forward": 0, "backward": 0}
    C = seq_len // sp_size
    kv = n_kv_heads * (sp_size // n_kv_heads if sp_size > n_kv_heads else 1)
    per = (sp_size - 1) * C * head_dim * (2 * n_heads + 2 * kv) * bytes_per_elem // sp_size
    return {"forward": per, "backward": per}


# ---- the attention wrapper -----------------------------------------------------------------------------------------

@dataclass
class _SPState:
    group: Any = None
    transport: str = "auto"


_STATE = _SPState()
_plan_cache: dict[str, Any] = {}


def set_sequence_parallel_group(group: Any, transport: Transport = "auto") -> None:
    """Set (or clear, with None) the SP group the "prolong_doc_sp" attention uses, for the whole process."""
    _STATE.group, _STATE.transport = group, transport
    _plan_cache.clear()


def sequence_parallel_group() -> Any:
    return _STATE.group


@contextmanager
def sequence_parallel(group: Any, transport: Transport = "auto") -> Iterator[None]:
    """Within the block, "prolong_doc_sp" attention shards over `group` (None: plain document attention)."""
    previous = (_STATE.group, _STATE.transport)
    set_sequence_parallel_group(group, transport)
    try:
        yield
    finally:
        set_sequence_parallel_group(*previous)


def _plan(cu_seq_lens: torch.Tensor | None, chunk_len: int, rank: int, P: int, device: torch.device
          ) -> tuple[torch.Tensor, bool, torch.Tensor, int]:
    """(global cu, needs all-to-all, local cu, local max document length) for this micro-batch; computed once per
    cu tensor (all layers share it), so the host sync of .tolist() happens once per micro-batch, not per layer."""
    if cu_seq_lens is not None and _plan_cache.get("cu") is cu_seq_lens:
        return _plan_cache["plan"]
    T = chunk_len * P
    if cu_seq_lens is None:  # no document masks: one causal segment over the whole row
        cu_list = [0, T]
        cu_global = torch.tensor(cu_list, dtype=torch.int32, device=device)
    else:
        cu_list = [int(b) for b in cu_seq_lens.tolist()]
        cu_global = cu_seq_lens
    if cu_list[-1] != T:
        raise ValueError(f"sequence parallel: cu_seq_lens end at {cu_list[-1]} but {P} ranks x {chunk_len} tokens "
                         f"= {T}; pass the *global* cu_seqlens (MicroBatch.shard(...).cu_seq_lens)")
    crossing = needs_all_to_all(cu_list, T, P)
    local_list = local_cu_seqlens(cu_list, rank * chunk_len, (rank + 1) * chunk_len)
    local = torch.tensor(local_list, dtype=torch.int32, device=device)
    plan = (cu_global, crossing, local, int(np.diff(local_list).max()))
    if cu_seq_lens is not None:
        _plan_cache.update(cu=cu_seq_lens, plan=plan)
    return plan


def repeat_kv_for_sp(key: torch.Tensor, n_heads: int, sp_size: int) -> torch.Tensor:
    """(B, Hkv, T, hs) -> (B, Hkv', T, hs) with Hkv' divisible by sp_size and rank r's KV heads those of its query
    heads: Hkv % P == 0 needs nothing; P % Hkv == 0 repeats each KV head P / Hkv times (interleaved)."""
    n_kv = key.shape[1]
    if n_heads % sp_size:
        raise ValueError(f"sequence parallel: {n_heads} query heads do not split over {sp_size} ranks")
    if n_kv % sp_size == 0:
        return key
    if sp_size % n_kv:
        raise ValueError(f"sequence parallel: {n_kv} KV heads and degree {sp_size}: one must divide the other")
    return key.repeat_interleave(sp_size // n_kv, dim=1)


def sp_document_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                          attention_mask: torch.Tensor | None, cu_seq_lens_q: torch.Tensor | None = None,
                          cu_seq_lens_k: torch.Tensor | None = None, max_length_q: int | None = None,
                          max_length_k: int | None = None, **kwargs: Any) -> tuple[torch.Tensor, None]:
    """query (1, H, C, hs), key/value (1, Hkv, C, hs) of this rank's chunk -> ((1, C, H, hs), None), attending over
    the whole sequence of the SP group within documents. cu_seq_lens_q are the global boundaries."""
    group = _STATE.group
    if group is None or dist.get_world_size(group) == 1:
        return document_attention(module, query, key, value, attention_mask, cu_seq_lens_q=cu_seq_lens_q,
                                  cu_seq_lens_k=cu_seq_lens_k, max_length_q=max_length_q,
                                  max_length_k=max_length_k, **kwargs)
    if attention_mask is not None:
        raise ValueError("prolong_doc_sp attention takes document boundaries (cu_seq_lens_q), not an attention mask")
    if query.shape[0] != 1:
        raise ValueError(f"sequence-parallel attention takes one packed row (batch 1), got batch {query.shape[0]}")
    P, rank = dist.get_world_size(group), dist.get_rank(group)
    C = query.shape[2]
    cu_global, crossing, cu_local, max_local = _plan(cu_seq_lens_q, C, rank, P, query.device)

    if not crossing:  # fast path: every document lies inside one chunk, attention is local
        max_len = max_local
        return document_attention(module, query, key, value, None, cu_seq_lens_q=cu_local, cu_seq_lens_k=cu_local,
                                  max_length_q=max_len, max_length_k=max_len, **kwargs)

    transport = _STATE.transport
    key = repeat_kv_for_sp(key, query.shape[1], P)
    value = repeat_kv_for_sp(value, query.shape[1], P)
    # (1, H, C, hs) sequence-sharded -> (1, H/P, T, hs) head-sharded
    q, k, v = (all_to_all(x, 1, 2, group, transport) for x in (query, key, value))
    max_len = max_length_q if max_length_q is not None else int(torch.diff(cu_global).max())
    out, _ = document_attention(module, q, k, v, None, cu_seq_lens_q=cu_global, cu_seq_lens_k=cu_global,
                                max_length_q=max_len, max_length_k=max_len, **kwargs)  # (1, T, H/P, hs)
    # (1, T, H/P, hs) head-sharded -> (1, C, H, hs) sequence-sharded
    return all_to_all(out, 1, 2, group, transport), None


def register() -> str:
    """Register "prolong_doc_sp" in transformers' attention interface (idempotent)."""
    AttentionInterface.register(SP_ATTN_IMPLEMENTATION, sp_document_attention)
    return SP_ATTN_IMPLEMENTATION


def enable_sequence_parallel(model: PreTrainedModel) -> PreTrainedModel:
    """Switch a model built with "prolong_doc" to the SP wrapper (identical to "prolong_doc" while no group is set)."""
    register()
    model.set_attn_implementation(SP_ATTN_IMPLEMENTATION)
    return model


register()


def gather_chunks(local: torch.Tensor, group: Any, dim: int = 1) -> torch.Tensor:
    """Concatenate the ranks' chunks along `dim` (not differentiable; tests and evaluation)."""
    P = dist.get_world_size(group)
    parts = [torch.empty_like(local) for _ in range(P)]
    dist.all_gather(parts, local.contiguous(), group=group)
    return torch.cat(parts, dim=dim)


__all__ = [
    "COMM_STATS", "SP_ATTN_IMPLEMENTATION", "a2a_bytes_per_layer", "all_to_all", "enable_sequence_parallel",
    "gather_chunks", "local_cu_seqlens", "needs_all_to_all", "register", "repeat_kv_for_sp", "sequence_parallel",
    "sequence_parallel_group", "set_sequence_parallel_group", "sp_document_attention",
]
