"""From packed sequences (prolong.data.packing.PackedSequence) to the tensors of one forward pass.

The sequences of a micro-batch are concatenated into one row (1, T): with document masks attention never crosses a
document, so one row is exact and lets every kernel work on variable-length documents without padding.

    labels[t] = input_ids[t + 1] when t + 1 is in the same document piece and is a target (loss_mask), else -100
    position_ids restart at 0 in every document piece (doc_masking) or at every sequence (no document masks)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol, Sequence

import numpy as np
import torch

from prolong.model.attention import cu_seqlens_from_doc_lens, position_ids_from_doc_lens
from prolong.model.loss import IGNORE_INDEX


class PackedLike(Protocol):
    """The fields of prolong.data.packing.PackedSequence that training reads."""

    input_ids: np.ndarray
    doc_lens: np.ndarray
    loss_mask: np.ndarray | None
    domain: str


@dataclass
class MicroBatch:
    """One forward pass: input_ids/position_ids/labels (1, T); cu_seq_lens (n_docs + 1,) int32."""

    input_ids: torch.Tensor
    position_ids: torch.Tensor
    labels: torch.Tensor
    cu_seq_lens: torch.Tensor
    max_length: int
    n_targets: int
    "target tokens (labels != -100)"
    attended_pairs: int
    "sum over tokens of the number of keys each attends to (sum of n(n+1)/2 over attention segments), for FLOPs"
    tokens_per_domain: dict[str, int] = field(default_factory=dict)

    def model_inputs(self, device: torch.device | str) -> dict[str, Any]:
        return dict(input_ids=self.input_ids.to(device), position_ids=self.position_ids.to(device),
                    labels=self.labels.to(device), cu_seq_lens=self.cu_seq_lens.to(device),
                    max_length=self.max_length)


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
    domains: dict[str, int] = {}
    for s in seqs:
        domains[s.domain] = domains.get(s.domain, 0) + len(s.input_ids)
    return MicroBatch(
        input_ids=torch.from_numpy(ids)[None],
        position_ids=torch.from_numpy(position_ids_from_doc_lens(segments))[None],
        labels=torch.from_numpy(labels)[None],
        cu_seq_lens=cu_seqlens_from_doc_lens(segments),
        max_length=int(segments.max()),
        n_targets=int((labels != IGNORE_INDEX).sum()),
        attended_pairs=int((segments * (segments + 1) // 2).sum()),
        tokens_per_domain=domains,
    )


def attention_cost(seqs: Sequence[PackedLike]) -> int:
    """Sum of squared document lengths: the attention work of a micro-batch."""
    return int(sum((np.asarray(s.doc_lens, dtype=np.int64) ** 2).sum() for s in seqs))


def order_by_attention_cost(micro_batches: list[list[PackedLike]]) -> list[list[PackedLike]]:
    """Reorder the micro-batches of one optimizer step, most attention work first (Table 15: every rank sorts the
    same way, so ranks run micro-batches of similar cost at the same time and wait less for each other)."""
    from prolong.data.mixing import sort_micro_batches

    return sort_micro_batches(micro_batches, key=attention_cost)
