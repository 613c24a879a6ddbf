"""Pretraining packing: the documents of one token-store domain cut into sequences that keep every document boundary
(paper, "Packing"), and `PackedSequence`, the training sample that every reader yields.

Each document is read as `[BOS] + tokens + [EOS]`; documents are concatenated into sequences of exactly `seq_len`
tokens and `doc_lens` lists the document pieces of each sequence, so attention can stay inside documents. A document
cut by the end of a sequence continues (the "leftover tail") as the first piece of the domain's next sequence.
(SFT packs whole conversations and drops the tail instead: `prolong.sft.packing`.)

`DocumentReader` is the pretraining reader of `prolong.data.mixing.MixtureStream`: it plans a sequence as pieces of
documents (cheap: no token copied) and materializes it by slicing the shard memmaps, so only the sequences of this
rank are copied and only the current shard's document order is held in memory.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import TYPE_CHECKING, Optional

import numpy as np

if TYPE_CHECKING:                      # a type only: importing the packing module stays light (numpy)
    from prolong.data.token_store import TokenStore

# One planned piece: (shard, token start of the document in the shard, n tokens of the document, vstart, vend).
# vstart/vend are *virtual* coordinates of the document [BOS] + tokens + [EOS] (length n + 2).
Piece = tuple[int, int, int, int, int]


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


class DocumentReader:
    """Walks the documents of one domain (a token store within a length range) in an order shuffled per epoch from
    `seed` (shards permuted, then the documents of each shard) and packs them into sequences of `seq_len` tokens."""

    def __init__(self, name: str, store: "TokenStore", seq_len: int, bos_id: int, eos_id: int,
                 min_tokens: int = 0, max_tokens: int = 0, seed: int = 0):
        self.name, self.store, self.seed = name, store, seed
        self.seq_len, self.bos_id, self.eos_id = seq_len, bos_id, eos_id
        self.min_tokens, self.max_tokens = min_tokens, max_tokens
        self.key = zlib.crc32(name.encode())
        # Eligible documents per shard (counted once; only counts are kept).
        masks = [(s.lengths(), self._eligible_mask(s.lengths())) for s in store.shards]
        self.n_eligible = np.array([int(m.sum()) for _, m in masks], np.int64)
        # virtual tokens ([BOS] + tokens + [EOS]) of each shard's eligible documents: `skip` crosses a shard unread
        self.v_total = np.array([int(n[m].sum()) + 2 * int(m.sum()) for n, m in masks], np.int64)
        del masks
        self.n_docs = int(self.n_eligible.sum())
        self.epoch, self.shard_pos, self.doc_pos, self.voff = 0, 0, 0, 0
        self._order_epoch, self._docs_key = None, None

    def _eligible_mask(self, lengths: np.ndarray) -> np.ndarray:
        mask = lengths >= max(self.min_tokens, 1)
        if self.max_tokens:
            mask &= lengths <= self.max_tokens
        return mask

    def _shard_order(self) -> np.ndarray:
        """Shards with eligible documents, permuted for this epoch (cached per epoch)."""
        if self._order_epoch != self.epoch:
            rng = np.random.default_rng([self.seed, self.key, self.epoch])
            nonempty = np.flatnonzero(self.n_eligible)
            self._order, self._order_epoch = nonempty[rng.permutation(len(nonempty))], self.epoch
        return self._order

    def _doc_order(self, shard: int) -> tuple[np.ndarray, np.ndarray]:
        """(eligible documents of `shard` permuted for this epoch, the shard's offsets in memory); cached per shard,
        so memory is bounded by one shard's document count, not the store's."""
        if self._docs_key != (self.epoch, shard):
            offsets = np.asarray(self.store.shards[shard].offsets)
            eligible = np.flatnonzero(self._eligible_mask(np.diff(offsets)))
            rng = np.random.default_rng([self.seed, self.key, self.epoch, int(shard) + 1])
            self._docs, self._offsets = eligible[rng.permutation(len(eligible))], offsets
            self._docs_key, self._vstarts = (self.epoch, shard), None
        return self._docs, self._offsets

    def _virtual_starts(self, shard: int) -> np.ndarray:
        """(n_docs + 1,) int64: virtual offset of each document of `shard` in this epoch's order ([BOS] + tokens +
        [EOS], n + 2 each), then the shard's total; cached with the order (as large as it)."""
        docs, offsets = self._doc_order(shard)
        if self._vstarts is None:
            self._vstarts = np.concatenate([[0], np.cumsum(offsets[docs + 1] - offsets[docs] + 2)])
        return self._vstarts

    def _current(self) -> tuple[int, int, int]:
        """(shard, token start in shard, n tokens) of the current document."""
        shard = int(self._shard_order()[self.shard_pos])
        docs, offsets = self._doc_order(shard)
        doc = int(docs[self.doc_pos])
        start = int(offsets[doc])
        return shard, start, int(offsets[doc + 1]) - start

    def _advance_doc(self) -> None:
        self.voff = 0
        self.doc_pos += 1
        order = self._shard_order()
        if self.doc_pos >= self.n_eligible[order[self.shard_pos]]:
            self.doc_pos, self.shard_pos = 0, self.shard_pos + 1
            if self.shard_pos >= len(order):
                self.shard_pos, self.epoch = 0, self.epoch + 1

    def next_plan(self) -> list[Piece]:
        """Pieces of the next sequence (vend - vstart sums to seq_len); a cut document's rest starts the next one."""
        pieces, filled = [], 0
        while filled < self.seq_len:
            shard, start, n = self._current()
            vlen = n + 2
            take = min(vlen - self.voff, self.seq_len - filled)
            pieces.append((shard, start, n, self.voff, self.voff + take))
            filled += take
            if self.voff + take == vlen:
                self._advance_doc()
            else:
                self.voff += take
        return pieces

    def skip(self, k: int) -> None:
        """Advance past the next `k` sequences without planning them: the same state as `k` calls of `next_plan`
        (a sequence is the next seq_len virtual tokens), found by binary search in the shard's virtual offsets,
        so a rank skips the other ranks' sequences of a round at the cost of one search per shard crossed."""
        n = k * self.seq_len
        while n > 0:
            shard = int(self._shard_order()[self.shard_pos])
            here = self.voff if self.doc_pos == 0 else int(self._virtual_starts(shard)[self.doc_pos]) + self.voff
            if here + n < self.v_total[shard]:         # lands inside this shard: search its document order
                starts = self._virtual_starts(shard)
                target = here + n
                self.doc_pos = int(np.searchsorted(starts, target, side="right")) - 1
                self.voff, n = target - int(starts[self.doc_pos]), 0
            else:                                       # runs past it (its order unread): the next shard's start
                n -= int(self.v_total[shard]) - here
                self.doc_pos, self.voff, self.shard_pos = 0, 0, self.shard_pos + 1
                if self.shard_pos >= len(self._shard_order()):
                    self.shard_pos, self.epoch = 0, self.epoch + 1

    def materialize(self, pieces: list[Piece]) -> PackedSequence:
        """The sequence of `pieces`: input_ids (L,) int32 sliced from the shard memmaps, one doc_lens entry per piece,
        no loss mask (every token is a target)."""
        out = np.empty(self.seq_len, dtype=np.int32)
        doc_lens = np.empty(len(pieces), dtype=np.int32)
        pos = 0
        for i, (shard, start, n, v0, v1) in enumerate(pieces):
            doc_lens[i] = v1 - v0
            if v0 == 0:                                  # virtual position 0 is BOS
                out[pos] = self.bos_id
                pos += 1
                v0 = 1
            t1 = min(v1, n + 1)                          # virtual [1, n+1) are the tokens
            if t1 > v0:
                k = t1 - v0
                out[pos:pos + k] = self.store.shards[shard].tokens[start + v0 - 1:start + t1 - 1]
                pos += k
            if v1 == n + 2:                              # virtual position n+1 is EOS
                out[pos] = self.eos_id
                pos += 1
        assert pos == self.seq_len
        return PackedSequence(out, doc_lens, None, self.name)

    def state(self) -> dict:
        return {"epoch": self.epoch, "shard_pos": self.shard_pos, "doc_pos": self.doc_pos, "voff": self.voff}

    def load(self, s: dict) -> None:
        self.epoch, self.shard_pos, self.doc_pos, self.voff = (int(s[k]) for k in
                                                                ("epoch", "shard_pos", "doc_pos", "voff"))
