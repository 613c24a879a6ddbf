"""From packed sequences (prolong.data.packing.PackedSequence) to the tensors of one forward pass.

The sequences of a micro-batch are concatenated into one row (1, T): with document masks attention never crosses a
document, so one row is exact and lets every kernel work on variable-length documents without padding.

    labels[t] = input_ids[t + 1] when t + 1 is in the same document piece and is a target (loss_mask), else -100
    position_ids restart at 0 in every document piece (doc_masking) or at every sequence (no document masks)

With sequence parallelism (degree P) every rank of a group keeps one contiguous chunk of C = T / P tokens of the same
micro-batch (`MicroBatch.shard`), in this order:
  1. labels are built (shifted) on the *whole* row, then sliced, so the target of a chunk's last token (the first
     token of the next chunk) is kept;
  2. position ids (restarting at 0 in every document) are built on the whole row, then sliced, so a document that
     continues into the next chunk continues its positions there;
  3. every rank receives the *global* cu_seqlens; the attention wrapper (prolong.model.ulysses) finds its chunk from
     its rank in the group, and whether any document crosses a chunk boundary (else no all-to-all is needed).
  T is padded to a multiple of P with a padding document (attends only to itself, no targets).

Attention cost: `attended_pairs` is the one definition, sum of n (n + 1) / 2 over the causal spans (documents): the
FLOPs of the training log (prolong.train.flops) and the micro-batch order of a step (Table 15) both use it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence

import numpy as np
import torch

from prolong.model.attention import cu_seqlens_from_doc_lens, position_ids_from_doc_lens
from prolong.model.loss import IGNORE_INDEX
from prolong.model.ulysses import needs_all_to_all

PAD_TOKEN_ID = 0  # token of the padding document that makes T a multiple of P (never a target)


class PackedLike(Protocol):
    """The fields of prolong.data.packing.PackedSequence that training reads."""

    input_ids: np.ndarray
    doc_lens: np.ndarray
    loss_mask: np.ndarray | None
    domain: str


def attended_pairs(segment_lens: np.ndarray | Sequence[int]) -> int:
    """Sum over tokens of the number of keys each attends to: causal attention over a span of n tokens attends
    n (n + 1) / 2 pairs. The attention cost of a micro-batch, for FLOPs and for ordering micro-batches."""
    lens = np.asarray(segment_lens, dtype=np.int64)
    return int((lens * (lens + 1) // 2).sum())


@dataclass
class MicroBatch:
    """One forward pass: input_ids/position_ids/labels (1, C); cu_seq_lens (n_docs + 1,) int32, the document
    boundaries of the whole (padded) row of T = C * sp_size tokens. Unsharded: sp_size 1 and C = T."""

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    labels: torch.Tensor
    cu_seq_lens: torch.Tensor
    max_length: int
    n_targets: int
    "target tokens (labels != -100) of this chunk (chunks are disjoint: a sum over an SP group counts each once)"
    attended_pairs: int
    "attended_pairs() of the attention segments; after sharding on sp_rank 0 only (so a sum over ranks counts once)"
    sp_rank: int = 0
    sp_size: int = 1
    n_pad: int = 0
    "padding tokens appended to make T a multiple of sp_size"

    @property
    def seq_len(self) -> int:
        """T, the global (padded) row length."""
        return self.input_ids.shape[1] * self.sp_size

    @property
    def chunk(self) -> tuple[int, int]:
        """[start, end) of this rank's chunk in the row."""
        c = self.input_ids.shape[1]
        return self.sp_rank * c, (self.sp_rank + 1) * c

    @property
    def needs_all_to_all(self) -> bool:
        """False: every chunk boundary is a document boundary and attention runs locally (the fast path)."""
        return needs_all_to_all(self.cu_seq_lens, self.seq_len, self.sp_size)

    def model_inputs(self, device: torch.device | str) -> dict[str, Any]:
        return dict(input_ids=self.input_ids.to(device), position_ids=self.position_ids.to(device),
                    labels=self.labels.to(device), cu_seq_lens=self.cu_seq_lens.to(device),
                    max_length=self.max_length)

    def shard(self, sp_rank: int, sp_size: int) -> MicroBatch:
        """This rank's chunk of the whole micro-batch (see the module docstring). sp_size 1: the micro-batch itself."""
        if self.sp_size != 1:
            raise ValueError("shard() takes a whole micro-batch, this one is already a chunk")
        if not 0 <= sp_rank < sp_size:
            raise ValueError(f"sp_rank {sp_rank} outside an SP group of {sp_size}")
        if sp_size == 1:
            return self
        segments = np.diff(self.cu_seq_lens.cpu().numpy().astype(np.int64))
        ids = self.input_ids.reshape(-1).cpu().numpy().astype(np.int64)
        labels = self.labels.reshape(-1).cpu().numpy().astype(np.int64)  # shifted on the whole row
        if segments.sum() != len(ids):
            raise ValueError(f"cu_seq_lens end at {segments.sum()} but the micro-batch has {len(ids)} tokens")
        n_pad = (-len(ids)) % sp_size
        if n_pad:
            ids = np.concatenate([ids, np.full(n_pad, PAD_TOKEN_ID, dtype=ids.dtype)])
            labels = np.concatenate([labels, np.full(n_pad, IGNORE_INDEX, dtype=labels.dtype)])
            segments = np.concatenate([segments, [n_pad]])  # a padding document: attends only to itself
        c = len(ids) // sp_size
        lo, hi = sp_rank * c, (sp_rank + 1) * c
        positions = position_ids_from_doc_lens(segments)  # global, then sliced: a continued document keeps counting
        local_labels = labels[lo:hi]
        return MicroBatch(
            input_ids=torch.from_numpy(np.ascontiguousarray(ids[lo:hi]))[None],
            position_ids=torch.from_numpy(np.ascontiguousarray(positions[lo:hi]))[None],
            labels=torch.from_numpy(np.ascontiguousarray(local_labels))[None],
            cu_seq_lens=cu_seqlens_from_doc_lens(segments), max_length=int(segments.max()),
            n_targets=int((local_labels != IGNORE_INDEX).sum()),
            attended_pairs=self.attended_pairs if sp_rank == 0 else 0,
            sp_rank=sp_rank, sp_size=sp_size, n_pad=n_pad,
        )


def labels_for(seq: PackedLike, doc_masking: bool = True) -> np.ndarray:
    """Next-token targets of one packed sequence, -100 where there is none (see module docstring). Without document
    masks the whole sequence is one piece (the model predicts across document boundaries, as plain packing does)."""
    ids = np.asarray(seq.input_ids, dtype=np.int64)
    labels = np.full(len(ids), IGNORE_INDEX, dtype=np.int64)
    labels[:-1] = ids[1:]
    if seq.loss_mask is not None:
        mask = np.asarray(seq.loss_mask, dtype=bool)
        labels[:-1][~mask[1:]] = IGNORE_INDEX
    if doc_masking:
        ends = np.cumsum(np.asarray(seq.doc_lens, dtype=np.int64)) - 1  # last token of each piece
        labels[ends] = IGNORE_INDEX
    return labels


def attention_segments(seq: PackedLike, doc_masking: bool = True) -> np.ndarray:
    """Lengths of the spans attention runs over: the document pieces, or the whole sequence without masks."""
    if not doc_masking:
        return np.array([len(seq.input_ids)], dtype=np.int64)
    lens = np.asarray(seq.doc_lens, dtype=np.int64)
    if lens.sum() != len(seq.input_ids) or (lens <= 0).any():
        raise ValueError(f"doc_lens {lens.tolist()} do not split a sequence of {len(seq.input_ids)} tokens")
    return lens


def make_micro_batch(seqs: Sequence[PackedLike], doc_masking: bool = True) -> MicroBatch:
    """Concatenate `seqs` into one row with document boundaries, positions and labels."""
    segments = np.concatenate([attention_segments(s, doc_masking) for s in seqs])
    ids = np.concatenate([np.asarray(s.input_ids, dtype=np.int64) for s in seqs])
    labels = np.concatenate([labels_for(s, doc_masking) for s in seqs])
    return MicroBatch(
        input_ids=torch.from_numpy(ids)[None],
        position_ids=torch.from_numpy(position_ids_from_doc_lens(segments))[None],
        labels=torch.from_numpy(labels)[None],
        cu_seq_lens=cu_seqlens_from_doc_lens(segments),
        max_length=int(segments.max()),
        n_targets=int((labels != IGNORE_INDEX).sum()),
        attended_pairs=attended_pairs(segments),
    )


def order_by_attention_cost(micro_batches: list[list[PackedLike]]) -> list[list[PackedLike]]:
    """Reorder the micro-batches of one optimizer step, most attention work first (Table 15: every rank sorts the
    same way, so ranks run micro-batches of similar cost at the same time and wait less for each other). The cost is
    attended_pairs() of the documents (also without document masks); the sort is stable."""
    def cost(seqs: list[PackedLike]) -> int:
        return sum(attended_pairs(s.doc_lens) for s in seqs)

    return sorted(micro_batches, key=cost, reverse=True)
