"""The paper's released packed sequences as mixture samples: `MDSReader`, the mixture reader of an MDS domain
(prolong.data.mixing.Reader). One sample is one sequence, streamed as it is: `indices` become `doc_lens` (tokens
outside every document, and the padding of a shorter sample, become pieces without targets) and `mask` the loss mask.
The MDS format itself is read by prolong.data.mds.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from prolong.data.mds import MDSError, MDSFolder
from prolong.data.packing import PackedSequence

PAD_ID = 0                 # token of the padding piece of a sample shorter than seq_len (never a target)

Plan = tuple[int, int]   # (shard, sample in shard)


def packed_from_sample(sample: dict[str, Any], seq_len: int, domain: str, where: str, use_mask: bool = True,
                       vocab_size: int | None = None) -> PackedSequence:
    """One released sample as a PackedSequence of seq_len tokens: documents from `indices`, the loss mask from
    `mask` (when `use_mask`); tokens outside every document and the padding of a short sample are pieces without
    targets. A sample longer than seq_len is an error (the stage's seq_len does not match the data)."""
    if "input_ids" not in sample:
        raise MDSError(f"{where}: no column 'input_ids' (columns: {', '.join(sorted(sample))})")
    ids = np.asarray(sample["input_ids"]).reshape(-1)
    n = len(ids)
    if n > seq_len:
        raise MDSError(f"{where}: {n} tokens, more than data.seq_len {seq_len} (train on this folder at its own "
                       f"length)")
    if n and (int(ids.max()) > np.iinfo(np.int32).max or (vocab_size is not None and int(ids.max()) >= vocab_size)):
        raise MDSError(f"{where}: token id {int(ids.max())} outside the tokenizer's vocabulary of {vocab_size}")
    if "indices" in sample:
        spans = np.asarray(sample["indices"], dtype=np.int64).reshape(-1, 2)
    else:
        spans = np.array([[0, n]], dtype=np.int64)
    ok = len(spans) > 0 and (spans[:, 0] < spans[:, 1]).all() and spans[0, 0] >= 0 and spans[-1, 1] <= n \
        and (spans[1:, 0] >= spans[:-1, 1]).all()
    if not ok:
        raise MDSError(f"{where}: 'indices' {spans.tolist()[:8]} are not ordered [start, end) spans inside "
                       f"{n} tokens")
    target = np.zeros(seq_len, dtype=bool)     # inside a document (and, with mask, a masked-in token)
    lens, pos = [], 0
    for a, b in spans.tolist():
        if a > pos:
            lens.append(a - pos)               # tokens between documents: a piece of their own, no targets
        lens.append(b - a)
        target[a:b] = True
        pos = b
    if n > pos:
        lens.append(n - pos)
    if seq_len > n:
        lens.append(seq_len - n)               # padding: attends only to itself, no targets
    if use_mask and "mask" in sample:
        mask = np.asarray(sample["mask"]).reshape(-1)
        if len(mask) != n:
            raise MDSError(f"{where}: 'mask' has {len(mask)} values for {n} tokens")
        target[:n] &= mask != 0
    out = np.full(seq_len, PAD_ID, dtype=np.int32)
    out[:n] = ids
    loss_mask = None if target.all() else target
    return PackedSequence(out, np.asarray(lens, dtype=np.int32), loss_mask, domain)


class MDSReader:
    """The samples of one MDS folder in an order shuffled per epoch from `seed` (shards permuted, then the samples of
    each shard, so a compressed shard is decompressed once per epoch), one sample per sequence."""

    def __init__(self, name: str, folder: MDSFolder, seq_len: int, seed: int = 0, use_mask: bool = True,
                 vocab_size: int | None = None):
        self.name, self.folder, self.seq_len, self.seed = name, folder, seq_len, seed
        self.use_mask, self.vocab_size = use_mask, vocab_size
        self.key = zlib.crc32(name.encode())
        self.sizes = np.array([s.n_samples for s in folder.shards], dtype=np.int64)
        self.n_docs = int(self.sizes.sum())       # sequences, in fact (the name the mixer reports on)
        self.epoch, self.shard_pos, self.sample_pos = 0, 0, 0
        self._order_key, self._samples_key = None, None

    def _shard_order(self) -> np.ndarray:
        if self._order_key != self.epoch:
            rng = np.random.default_rng([self.seed, self.key, self.epoch])
            nonempty = np.flatnonzero(self.sizes)
            self._order, self._order_key = nonempty[rng.permutation(len(nonempty))], self.epoch
        return self._order

    def _sample_order(self, shard: int) -> np.ndarray:
        if self._samples_key != (self.epoch, shard):
            rng = np.random.default_rng([self.seed, self.key, self.epoch, int(shard) + 1])
            self._samples, self._samples_key = rng.permutation(int(self.sizes[shard])), (self.epoch, shard)
        return self._samples

    def next_plan(self) -> Plan:
        order = self._shard_order()
        shard = int(order[self.shard_pos])
        plan = (shard, int(self._sample_order(shard)[self.sample_pos]))
        self.sample_pos += 1
        if self.sample_pos >= self.sizes[shard]:
            self.sample_pos, self.shard_pos = 0, self.shard_pos + 1
            if self.shard_pos >= len(order):
                self.shard_pos, self.epoch = 0, self.epoch + 1
        return plan

    def skip(self, k: int) -> None:
        """Advance past the next `k` samples: the same state as `k` calls of `next_plan`, one step per shard."""
        while k > 0:
            order = self._shard_order()
            left = int(self.sizes[order[self.shard_pos]]) - self.sample_pos
            if k < left:
                self.sample_pos, k = self.sample_pos + k, 0
            else:
                k -= left
                self.sample_pos, self.shard_pos = 0, self.shard_pos + 1
                if self.shard_pos >= len(order):
                    self.shard_pos, self.epoch = 0, self.epoch + 1

    def materialize(self, plan: Plan) -> PackedSequence:
        shard, j = plan
        where = f"{self.folder.path}: shard {self.folder.shards[shard].raw['basename']} sample {j}"
        return packed_from_sample(self.folder.sample(shard, j), self.seq_len, self.name, where, self.use_mask,
                                  self.vocab_size)

    def state(self) -> dict:
        return {"epoch": self.epoch, "shard_pos": self.shard_pos, "sample_pos": self.sample_pos}

    def load(self, s: dict) -> None:
        self.epoch, self.shard_pos, self.sample_pos = (int(s[k]) for k in ("epoch", "shard_pos", "sample_pos"))
