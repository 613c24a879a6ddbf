"""Mixing domains by token proportions into one deterministic, resumable, rank-aware stream of packed sequences.

Every sequence comes from one domain. The next sequence's domain is the one furthest behind its target (deficit
rule: argmax_d p_d * (n + 1) - c_d, with c_d sequences of domain d among the first n), not a random draw, so the
realised token share of each domain stays within ONE SEQUENCE of its target at every step
(|c_d - p_d * n| < 1, i.e. |share_d - p_d| < 1/n after n sequences; `tests/data/test_mixing.py` checks it).

Within a domain, documents are read in an order shuffled per epoch from `seed` (shards permuted, then the documents of
each shard), packed with the rules of `prolong.data.packing` (pretrain: a cut document continues in the domain's next
sequence; sft: the tail is dropped). Only the current shard's document order is held in memory.

Ranks: the global stream is cut into rounds of `dp_size` sequences; data-parallel rank r gets the r-th sequence of each
round (disjoint samples); ranks of one sequence-parallel group pass the same dp_rank and get the same sample. Every
rank plans the whole round (cheap: no token is copied for other ranks' sequences), so `state_dict()` after k samples
is the same on every rank, and a resume may even change dp_size.
"""

from __future__ import annotations

import zlib
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from prolong.config import ConfigError
from prolong.data.config import MixtureConfig
from prolong.data.packing import PackedSequence
from prolong.data.token_store import TokenStore, check_same_tokenizer
from prolong.data.tokenizer import TokenizerIdentity

STATE_VERSION = 1


class _DomainReader:
    """Walks the documents of one domain in shuffled order and cuts them into sequence plans.

    A plan is a list of pieces (shard, doc, vstart, vend) in *virtual* coordinates of the document
    [BOS] + tokens + [EOS] (length n + 2)."""

    def __init__(self, name: str, store: TokenStore, min_tokens: int, max_tokens: int, seed: int, mode: str):
        self.name, self.store, self.seed, self.mode = name, store, seed, mode
        self.min_tokens, self.max_tokens = min_tokens, max_tokens
        self.key = zlib.crc32(name.encode())
        # Eligible documents per shard (counted once; only counts are kept).
        self.n_eligible = np.array([int(self._eligible_mask(s.lengths()).sum()) for s in store.shards], np.int64)
        self.n_docs = int(self.n_eligible.sum())
        self.n_tokens = int(sum(int(s.lengths()[self._eligible_mask(s.lengths())].sum()) for s in store.shards))
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
            self._docs_key = (self.epoch, shard)
        return self._docs, self._offsets

    def _current(self) -> tuple[int, int, int, int]:
        """(shard, doc, token start in shard, n tokens) of the current document."""
        order = self._shard_order()
        shard = int(order[self.shard_pos])
        docs, offsets = self._doc_order(shard)
        doc = int(docs[self.doc_pos])
        start = int(offsets[doc])
        return shard, doc, start, int(offsets[doc + 1]) - start

    def _advance_doc(self) -> None:
        self.voff = 0
        self.doc_pos += 1
        order = self._shard_order()
        if self.doc_pos >= self.n_eligible[order[self.shard_pos]]:
            self.doc_pos, self.shard_pos = 0, self.shard_pos + 1
            if self.shard_pos >= len(order):
                self.shard_pos, self.epoch = 0, self.epoch + 1

    def plan(self, seq_len: int) -> list[tuple[int, int, int, int]]:
        """Pieces (shard, token start in shard, vstart, vend) of the next sequence; vend - vstart sums to seq_len."""
        pieces, filled = [], 0
        while filled < seq_len:
            shard, _doc, start, n = self._current()
            vlen = n + 2
            take = min(vlen - self.voff, seq_len - filled)
            pieces.append((shard, start, n, self.voff, self.voff + take))
            filled += take
            if self.voff + take == vlen or self.mode == "sft":   # sft: the cut tail is dropped
                self._advance_doc()
            else:
                self.voff += take
        return pieces

    def materialize(self, pieces, seq_len: int, bos_id: int, eos_id: int) -> tuple[np.ndarray, np.ndarray]:
        """(input_ids (L,) int32, doc_lens (n_pieces,) int32) by slicing the shard memmaps."""
        out = np.empty(seq_len, dtype=np.int32)
        doc_lens = np.empty(len(pieces), dtype=np.int32)
        pos = 0
        for i, (shard, start, n, v0, v1) in enumerate(pieces):
            doc_lens[i] = v1 - v0
            if v0 == 0:                                  # virtual position 0 is BOS
                out[pos] = bos_id
                pos += 1
                v0 = 1
            t1 = min(v1, n + 1)                          # virtual [1, n+1) are the tokens
            if t1 > v0:
                k = t1 - v0
                out[pos:pos + k] = self.store.shards[shard].tokens[start + v0 - 1:start + t1 - 1]
                pos += k
            if v1 == n + 2:                              # virtual position n+1 is EOS
                out[pos] = eos_id
                pos += 1
        assert pos == seq_len
        return out, doc_lens

    def state(self) -> dict:
        return {"epoch": self.epoch, "shard_pos": self.shard_pos, "doc_pos": self.doc_pos, "voff": self.voff}

    def load(self, s: dict) -> None:
        self.epoch, self.shard_pos, self.doc_pos, self.voff = (int(s[k]) for k in
                                                                ("epoch", "shard_pos", "doc_pos", "voff"))


class MixtureStream:
    """Infinite iterator of `PackedSequence`s mixing domains by token proportions (see module doc)."""

    def __init__(self, mixture: MixtureConfig, seq_len: int, seed: int = 0, dp_rank: int = 0, dp_size: int = 1,
                 tokenizer: TokenizerIdentity | None = None, source: str = "<mixture>"):
        if not 0 <= dp_rank < dp_size:
            raise ValueError(f"dp_rank {dp_rank} must be in [0, dp_size={dp_size})")
        if seq_len < 2:
            raise ValueError(f"seq_len must be >= 2, got {seq_len}")
        self.mixture, self.seq_len, self.seed = mixture, seq_len, seed
        self.dp_rank, self.dp_size = dp_rank, dp_size
        self.proportions = mixture.proportions()
        self.names = list(self.proportions)
        self._p = np.array([self.proportions[d] for d in self.names], dtype=np.float64)
        self.readers: list[_DomainReader] = []
        stores: dict[Path, TokenStore] = {}
        for name in self.names:
            dom = mixture.domains[name]
            path = dom.store_path()
            if path not in stores:
                try:
                    stores[path] = TokenStore.open(path, expect=tokenizer)
                except FileNotFoundError as err:
                    raise FileNotFoundError(f"{source}: domains.{name}.store: {err}") from err
            store = stores[path]
            if tokenizer is None:
                tokenizer = store.tokenizer
            check_same_tokenizer(store.tokenizer, tokenizer, str(path))
            reader = _DomainReader(name, store, dom.min_tokens, dom.max_tokens, seed, mixture.mode)
            if reader.n_docs == 0:
                rng = f"{dom.min_tokens}..{dom.max_tokens or 'inf'}"
                raise ConfigError(f"{source}: domain {name!r} is empty: store {path} has no document with "
                                  f"{rng} tokens")
            self.readers.append(reader)
        self.tokenizer = tokenizer
        self.bos_id, self.eos_id = tokenizer.bos_id, tokenizer.eos_id
        self.n_global = 0                                          # sequences planned by all ranks together
        self.counts = np.zeros(len(self.names), dtype=np.int64)   # c_d over the global stream
        self.tokens_per_domain = {d: 0 for d in self.names}        # tokens of the samples THIS rank yielded

    @classmethod
    def from_yaml(cls, path: str | Path, seq_len: int, seed: int = 0, dp_rank: int = 0, dp_size: int = 1,
                  tokenizer: TokenizerIdentity | None = None) -> "MixtureStream":
        return cls(MixtureConfig.from_yaml(path), seq_len, seed, dp_rank, dp_size, tokenizer, source=str(path))

    # ---- the stream --------------------------------------------------------------------------------------------
    def _choose_domain(self) -> int:
        deficit = self._p * (self.n_global + 1) - self.counts    # ties: the first domain as written
        return int(np.argmax(deficit))

    def __iter__(self) -> Iterator[PackedSequence]:
        return self

    def __next__(self) -> PackedSequence:
        mine = None
        for r in range(self.dp_size):                 # one round: one sequence per data-parallel rank
            d = self._choose_domain()
            reader = self.readers[d]
            pieces = reader.plan(self.seq_len)
            self.counts[d] += 1
            self.n_global += 1
            if r == self.dp_rank:
                ids, doc_lens = reader.materialize(pieces, self.seq_len, self.bos_id, self.eos_id)
                mine = PackedSequence(ids, doc_lens, None, reader.name)
                self.tokens_per_domain[reader.name] += self.seq_len
        return mine

    def take(self, n: int) -> list[PackedSequence]:
        return [next(self) for _ in range(n)]

    @property
    def global_tokens_per_domain(self) -> dict[str, int]:
        """Tokens per domain over all ranks together (same on every rank)."""
        return {d: int(c) * self.seq_len for d, c in zip(self.names, self.counts)}

    def domain_sizes(self) -> dict[str, tuple[int, int]]:
        """domain -> (eligible documents, their tokens): what one epoch of each domain holds."""
        return {r.name: (r.n_docs, r.n_tokens) for r in self.readers}

    # ---- resume ------------------------------------------------------------------------------------------------
    def state_dict(self) -> dict:
        """JSON-able position of the stream (identical on every rank, except `tokens_per_domain`)."""
        return {"version": STATE_VERSION, "seed": self.seed, "seq_len": self.seq_len, "proportions": self.proportions,
                "n_global": self.n_global, "counts": {d: int(c) for d, c in zip(self.names, self.counts)},
                "domains": {r.name: r.state() for r in self.readers},
                "tokens_per_domain": dict(self.tokens_per_domain)}

    def load_state_dict(self, state: dict) -> None:
        """Continue exactly where `state` was taken (same mixture, seq_len and seed)."""
        for key, mine in (("seed", self.seed), ("seq_len", self.seq_len), ("proportions", self.proportions)):
            if state.get(key) != mine:
                raise ValueError(f"data state was saved with {key}={state.get(key)!r}, this stream has {mine!r}")
        self.n_global = int(state["n_global"])
        self.counts = np.array([int(state["counts"][d]) for d in self.names], dtype=np.int64)
        for r in self.readers:
            r.load(state["domains"][r.name])
        self.tokens_per_domain = {d: int(state["tokens_per_domain"].get(d, 0)) for d in self.names}


def sort_micro_batches(micro_batches: Sequence, key=None) -> list:
    """Reorder the micro-batches of one optimizer step by attention cost, most expensive first (Table 15).

    A micro-batch is a PackedSequence or a list of them; its cost is the sum of squared document lengths. When every
    rank sorts its own micro-batches this way, the ranks work on sequences of similar cost at each accumulation step,
    so fewer GPUs wait for the slowest at the gradient synchronisation. The sort is stable."""
    def cost(mb) -> int:
        if key is not None:
            return key(mb)
        if isinstance(mb, PackedSequence):
            return mb.attention_cost
        return sum(s.attention_cost for s in mb)
    return sorted(micro_batches, key=cost, reverse=True)
