"""Sequence parallelism for 512K training (DeepSpeed-Ulysses style), exact when documents cross chunk boundaries.

At 512K the paper shards every packed sequence over the P ranks of a sequence-parallel (SP) group. Each rank holds
one contiguous chunk of C = T / P tokens and runs the whole model on it; only attention needs other chunks, so around
attention the ranks exchange heads with an all-to-all:

    q/k/v  (1, H, C, hs) sequence-sharded  --all-to-all-->  (1, H/P, T, hs) head-sharded
    document attention over the full T tokens (global cu_seqlens) for this rank's H/P heads
    out    (1, T, H/P, hs) head-sharded    --all-to-all-->  (1, C, H, hs) sequence-sharded

Everything else (embeddings, MLPs, norms, the block-wise loss) is token-wise and runs on the local chunk unchanged.

How a micro-batch is sharded (`shard_batch` / `shard_micro_batch`), in this order:
  1. labels are built (shifted) on the *whole* sequence, then sliced, so the target of a chunk's last token (the
     first token of the next chunk) is kept;
  2. position ids (restarting at 0 in every document) are built on the whole sequence, then sliced, so a document
     that continues into the next chunk continues its positions there;
  3. the model receives the *global* cu_seqlens; the attention wrapper knows its rank's chunk from the group.
  T is padded to a multiple of P with a padding document (attends only to itself, no targets).

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
from dataclasses import dataclass, field
from typing import Any, Iterator, Literal

import numpy as np
import torch
import torch.distributed as dist
from transformers import AttentionInterface, PreTrainedModel

from prolong.model.attention import cu_seqlens_from_doc_lens, document_attention, position_ids_from_doc_lens
from prolong.model.loss import IGNORE_INDEX

SP_ATTN_IMPLEMENTATION = "prolong_doc_sp"
Transport = Literal["auto", "all_to_all_single", "all_gather"]
PAD_TOKEN_ID = 0  # token of the padding document that makes T a multiple of P (never a target)


# ---- process groups ------------------------------------------------------------------------------------------------

@dataclass(frozen=True)
class SPLayout:
    """Where one rank sits in a world of dp_size x sp_size ranks. Ranks [g*sp, (g+1)*sp) form SP group g (= data-
    parallel rank g): consecutive ranks, so an SP group stays inside one node whenever sp_size divides the GPUs per
    node (the all-to-all then runs over NVLink)."""

    rank: int
    world_size: int
    dp_rank: int
    dp_size: int
    sp_rank: int
    sp_size: int

    @property
    def sp_ranks(self) -> list[int]:
        """Global ranks of this rank's SP group, in sp_rank order."""
        return [self.dp_rank * self.sp_size + i for i in range(self.sp_size)]


def sp_layout(rank: int, world_size: int, sp_size: int) -> SPLayout:
    """The pure layout arithmetic (no process group): world = dp * sp, SP group = rank // sp."""
    if sp_size <= 0 or world_size <= 0 or not 0 <= rank < world_size:
        raise ValueError(f"bad layout: rank {rank}, world_size {world_size}, sp_size {sp_size}")
    if world_size % sp_size:
        raise ValueError(f"world size {world_size} is not a multiple of the sequence-parallel size {sp_size}")
    return SPLayout(rank, world_size, rank // sp_size, world_size // sp_size, rank % sp_size, sp_size)


@dataclass(frozen=True)
class SPGroups:
    """This rank's layout and its SP process group (None when sp_size == 1)."""

    layout: SPLayout
    sp_group: Any

    def __iter__(self) -> Iterator[Any]:  # dp_rank, dp_size, sp_rank, sp_size, sp_group = init_sp_groups(...)
        lay = self.layout
        return iter((lay.dp_rank, lay.dp_size, lay.sp_rank, lay.sp_size, self.sp_group))


def init_sp_groups(sp_size: int) -> SPGroups:
    """Build the SP groups of the initialised default process group (every rank must call this, in the same order:
    `new_group` is collective) and return this rank's layout and group. One process / sp_size 1: no group."""
    if not dist.is_available() or not dist.is_initialized():
        if sp_size != 1:
            raise RuntimeError(f"sequence_parallel_size {sp_size} needs an initialised torch.distributed process group")
        return SPGroups(sp_layout(0, 1, 1), None)
    lay = sp_layout(dist.get_rank(), dist.get_world_size(), sp_size)
    mine = None
    for g in range(lay.dp_size):
        ranks = list(range(g * sp_size, (g + 1) * sp_size))
        group = dist.new_group(ranks) if sp_size > 1 else None
        if g == lay.dp_rank:
            mine = group
    return SPGroups(lay, mine)


def sequences_per_group_per_step(batch_size: int, dp_size: int) -> int:
    """Packed sequences one SP group (every one of its ranks) reads per optimizer step: batch_size / dp_size, where
    dp_size = world / sp_size. The ranks of a group read the *same* sequences (they pass dp_rank to the stream)."""
    if batch_size % dp_size:
        raise ValueError(f"batch_size {batch_size} does not split over {dp_size} data-parallel groups")
    return batch_size // dp_size


def samples_per_epoch(n_sequences: int, dp_size: int) -> int:
    """Packed sequences one SP group reads in one pass over a dataset of n_sequences (drop_last): every sequence is
    read by exactly one group, so n_sequences // dp_size per group and dp_size times that in total, whatever the
    sp_size. (The public release counted per *rank*, i.e. used world_size = dp * sp, drawing sp_size = 8x too many
    samples per epoch; passing world_size here instead of dp_size reproduces that bug.)"""
    if n_sequences < 0 or dp_size <= 0:
        raise ValueError(f"bad epoch: {n_sequences} sequences, dp_size {dp_size}")
    return n_sequences // dp_size


# ---- sharding a packed micro-batch ---------------------------------------------------------------------------------

@dataclass
class SPShard:
    """One rank's chunk of a packed micro-batch. input_ids/position_ids/labels (1, C); cu_seq_lens (n_docs + 1,) are
    the *global* document boundaries of the (padded) row of T = C * sp_size tokens. `model_inputs` has the keys of
    prolong.train.batching.MicroBatch.model_inputs, so CausalLMWithLoss takes it unchanged."""

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    labels: torch.Tensor
    cu_seq_lens: torch.Tensor
    max_length: int
    n_targets: int
    "target tokens of this chunk (chunks are disjoint: summing over the SP group counts each target once)"
    attended_pairs: int
    "the micro-batch's attended pairs on sp_rank 0, 0 on the others (so a sum over ranks counts them once)"
    sp_rank: int
    sp_size: int
    seq_len: int
    "T, the global (padded) length"
    n_pad: int = 0
    "padding tokens appended to make T a multiple of sp_size"
    needs_all_to_all: bool = True
    "False: every chunk boundary is a document boundary and attention runs locally (fast path)"
    tokens_per_domain: dict[str, int] = field(default_factory=dict)

    @property
    def chunk(self) -> tuple[int, int]:
        c = self.seq_len // self.sp_size
        return self.sp_rank * c, (self.sp_rank + 1) * c

    def model_inputs(self, device: torch.device | str) -> dict[str, Any]:
        return dict(input_ids=self.input_ids.to(device), position_ids=self.position_ids.to(device),
                    labels=self.labels.to(device), cu_seq_lens=self.cu_seq_lens.to(device),
                    max_length=self.max_length)


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


def _pad_to_multiple(ids: np.ndarray, labels: np.ndarray, segments: np.ndarray, sp_size: int
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    n_pad = (-len(ids)) % sp_size
    if n_pad:
        ids = np.concatenate([ids, np.full(n_pad, PAD_TOKEN_ID, dtype=ids.dtype)])
        labels = np.concatenate([labels, np.full(n_pad, IGNORE_INDEX, dtype=labels.dtype)])
        segments = np.concatenate([segments, [n_pad]])  # a padding document: attends only to itself
    return ids, labels, segments, n_pad


def _shard(ids: np.ndarray, labels: np.ndarray, segments: np.ndarray, sp_rank: int, sp_size: int,
           attended_pairs: int, tokens_per_domain: dict[str, int] | None = None) -> SPShard:
    if not 0 <= sp_rank < sp_size:
        raise ValueError(f"sp_rank {sp_rank} outside an SP group of {sp_size}")
    ids, labels, segments, n_pad = _pad_to_multiple(ids, labels, segments, sp_size)
    T = len(ids)
    c = T // sp_size
    lo, hi = sp_rank * c, (sp_rank + 1) * c
    positions = position_ids_from_doc_lens(segments)  # global, then sliced: a continued document keeps counting
    cu = cu_seqlens_from_doc_lens(segments)
    local_labels = labels[lo:hi]
    return SPShard(
        input_ids=torch.from_numpy(np.ascontiguousarray(ids[lo:hi], dtype=np.int64))[None],
        position_ids=torch.from_numpy(np.ascontiguousarray(positions[lo:hi]))[None],
        labels=torch.from_numpy(np.ascontiguousarray(local_labels, dtype=np.int64))[None],
        cu_seq_lens=cu, max_length=int(segments.max()),
        n_targets=int((local_labels != IGNORE_INDEX).sum()),
        attended_pairs=attended_pairs if sp_rank == 0 else 0,
        sp_rank=sp_rank, sp_size=sp_size, seq_len=T, n_pad=n_pad,
        needs_all_to_all=needs_all_to_all(cu, T, sp_size),
        tokens_per_domain=dict(tokens_per_domain or {}) if sp_rank == 0 else {},
    )


def shard_batch(input_ids: np.ndarray | torch.Tensor, doc_lens: np.ndarray | list[int], sp_rank: int, sp_size: int,
                loss_mask: np.ndarray | None = None) -> SPShard:
    """One packed row (L,) with its document lengths -> this rank's chunk. Labels follow docs/CONTRACTS.md: the
    target of t is token t+1 of the same document (and a target under loss_mask); built before slicing."""
    ids = np.asarray(input_ids.reshape(-1).cpu() if isinstance(input_ids, torch.Tensor) else input_ids,
                     dtype=np.int64).reshape(-1)
    segments = np.asarray(doc_lens, dtype=np.int64)
    if segments.sum() != len(ids) or (segments <= 0).any():
        raise ValueError(f"doc_lens {segments.tolist()} do not split a row of {len(ids)} tokens")
    from prolong.data.packing import PackedSequence
    from prolong.train.batching import labels_for  # the one definition of next-token targets

    labels = labels_for(PackedSequence(ids, segments, loss_mask, ""))
    return _shard(ids, labels, segments, sp_rank, sp_size, int((segments * (segments + 1) // 2).sum()))


def shard_micro_batch(mb: Any, sp_rank: int, sp_size: int) -> SPShard:
    """A prolong.train.batching.MicroBatch (labels already shifted on the whole row) -> this rank's chunk."""
    cu = mb.cu_seq_lens.cpu().numpy().astype(np.int64)
    segments = np.diff(cu)
    ids = mb.input_ids.reshape(-1).cpu().numpy().astype(np.int64)
    labels = mb.labels.reshape(-1).cpu().numpy().astype(np.int64)
    if segments.sum() != len(ids):
        raise ValueError(f"cu_seq_lens end at {cu[-1]} but the micro-batch has {len(ids)} tokens")
    return _shard(ids, labels, segments, sp_rank, sp_size, int(getattr(mb, "attended_pairs", 0)),
                  getattr(mb, "tokens_per_domain", None))


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


sp_attention_context = sequence_parallel  # the name the training loop's brief uses


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
                         f"= {T}; pass the *global* cu_seqlens (SPShard.cu_seq_lens)")
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
    "COMM_STATS", "SPGroups", "SPLayout", "SPShard", "SP_ATTN_IMPLEMENTATION", "a2a_bytes_per_layer", "all_to_all",
    "enable_sequence_parallel", "gather_chunks", "init_sp_groups", "local_cu_seqlens", "needs_all_to_all",
    "register", "repeat_kv_for_sp", "samples_per_epoch", "sequence_parallel", "sequence_parallel_group",
    "sequences_per_group_per_step", "set_sequence_parallel_group", "shard_batch", "shard_micro_batch",
    "sp_attention_context", "sp_document_attention", "sp_layout",
]
