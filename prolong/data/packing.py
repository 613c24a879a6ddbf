"""Packing documents into fixed-length sequences that keep every document boundary (paper, "Packing").

Each document becomes `[BOS] + tokens + [EOS]`; documents are concatenated into sequences of exactly `seq_len` tokens
and `doc_lens` lists the document pieces of each sequence, so attention can stay inside documents. Where a document is
cut by the end of a sequence:
    mode="pretrain": the rest (the "leftover tail") starts the next sequence, as a piece of its own;
    mode="sft":      the rest is dropped and the next sequence starts with the next document.
A final sequence that is not full is dropped (`drop_last`), so every sequence has exactly `seq_len` tokens.

`SequencePacker` packs arbitrary documents with optional loss masks (SFT conversations are built on it);
`prolong.data.mixing` packs straight from token stores with the same rules, without copying whole documents.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Iterator, Literal, Optional

import numpy as np

PackMode = Literal["pretrain", "sft"]


@dataclass
class PackedSequence:
    """One training sample (the Data -> training contract, docs/CONTRACTS.md)."""

    input_ids: np.ndarray             # (L,) int32
    doc_lens: np.ndarray              # (n_docs,) int32, sums to L; document pieces in order
    loss_mask: Optional[np.ndarray]   # (L,) bool, True where token t is a target; None = every token is a target
    domain: str                       # the mixture domain it came from

    def __post_init__(self) -> None:
        assert self.input_ids.ndim == 1 and self.doc_lens.ndim == 1
        assert int(self.doc_lens.sum()) == len(self.input_ids), "doc_lens must sum to the sequence length"

    @property
    def attention_cost(self) -> int:
        """Sum of squared document lengths: the work of document-masked attention (Table 15)."""
        d = self.doc_lens.astype(np.int64)
        return int((d * d).sum())

    def documents(self) -> list[np.ndarray]:
        """The document pieces of the sequence, in order."""
        return np.split(self.input_ids, np.cumsum(self.doc_lens)[:-1])


class SequencePacker:
    """Stateful packer: `add()` documents, get back the sequences they complete.

    tokens: (n,) ints without BOS/EOS; loss_mask: (n,) bool or None. BOS is never a target; EOS is a target when the
    document's last token is (so SFT learns to stop after an assistant turn)."""

    def __init__(self, seq_len: int, bos_id: int, eos_id: int, mode: PackMode = "pretrain", domain: str = "",
                 add_bos_eos: bool = True):
        if seq_len < 2:
            raise ValueError(f"seq_len must be >= 2, got {seq_len}")
        if mode not in ("pretrain", "sft"):
            raise ValueError(f"mode must be 'pretrain' or 'sft', got {mode!r}")
        self.seq_len, self.bos_id, self.eos_id = seq_len, bos_id, eos_id
        self.mode, self.domain, self.add_bos_eos = mode, domain, add_bos_eos
        self._ids: list[np.ndarray] = []     # pieces of the sequence being filled
        self._masks: list[Optional[np.ndarray]] = []
        self._filled = 0
        self._any_mask = False

    def add(self, tokens: np.ndarray, loss_mask: Optional[np.ndarray] = None) -> list[PackedSequence]:
        tokens = np.asarray(tokens, dtype=np.int32)
        if loss_mask is not None:
            loss_mask = np.asarray(loss_mask, dtype=bool)
            if loss_mask.shape != tokens.shape:
                raise ValueError(f"loss_mask shape {loss_mask.shape} != tokens shape {tokens.shape}")
            self._any_mask = True
        if self.add_bos_eos:
            tokens = np.concatenate([[self.bos_id], tokens, [self.eos_id]]).astype(np.int32)
            if loss_mask is not None:
                last = bool(loss_mask[-1]) if len(loss_mask) else False
                loss_mask = np.concatenate([[False], loss_mask, [last]])
        out = []
        start = 0
        while start < len(tokens):
            take = min(len(tokens) - start, self.seq_len - self._filled)
            self._ids.append(tokens[start:start + take])
            self._masks.append(None if loss_mask is None else loss_mask[start:start + take])
            self._filled += take
            start += take
            if self._filled == self.seq_len:
                out.append(self._emit())
                if self.mode == "sft":
                    break           # the leftover tail of an SFT document is dropped
        return out

    def _emit(self) -> PackedSequence:
        ids = np.concatenate(self._ids).astype(np.int32)
        doc_lens = np.array([len(p) for p in self._ids], dtype=np.int32)
        mask = None
        if self._any_mask:
            mask = np.concatenate([m if m is not None else np.ones(len(p), bool)
                                   for p, m in zip(self._ids, self._masks)])
        self._ids, self._masks, self._filled = [], [], 0
        return PackedSequence(ids, doc_lens, mask, self.domain)

    @property
    def pending_tokens(self) -> int:
        """Tokens waiting in the sequence being filled (dropped if the input ends here)."""
        return self._filled


def pack_documents(docs: Iterable, seq_len: int, bos_id: int, eos_id: int, mode: PackMode = "pretrain",
                   domain: str = "", add_bos_eos: bool = True) -> Iterator[PackedSequence]:
    """Pack documents (token arrays, or (tokens, loss_mask) pairs) into full sequences of `seq_len` tokens."""
    packer = SequencePacker(seq_len, bos_id, eos_id, mode, domain, add_bos_eos)
    for doc in docs:
        tokens, mask = doc if isinstance(doc, tuple) else (doc, None)
        yield from packer.add(tokens, mask)
