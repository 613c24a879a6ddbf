"""The SFT data stream: chat-formatted conversations of one or more sources, packed (prolong.sft.packing) and mixed
by token proportions into a deterministic, resumable, rank-aware iterator of `PackedSequence`s with loss masks.

It has the interface of `prolong.data.mixing.MixtureStream` that the training loop uses: `next()`,
`state_dict()` / `load_state_dict()` (exact resume), `dp_rank` / `dp_size` (rank r takes the r-th sequence of every
round of dp_size sequences: disjoint), `tokens_per_domain` (this rank) and `global_tokens_per_domain` (all ranks).

Mixing: every packed sequence comes from one source; the next sequence's source is the one furthest behind its
target share (deficit rule: argmax_d p_d (n + 1) - c_d), as in MixtureStream. All sequences have seq_len tokens, so
the realised share of TOKENS (= share of sequences) of each source stays within one sequence of its target:
|share_d - p_d| < 1/n after n sequences (e.g. synthetic long data at 1/3/10/50%; tests/sft/test_stream.py).
The share of conversations is NOT the knob: one synthetic long conversation fills a whole sequence while a short
one takes ~1/50 of it at paper scale (and one short SFT conversation is ~1.2K tokens, Table 22's UltraChat).

Within a source, each epoch visits the conversations in an order shuffled from (seed, source, epoch) and packs them
with `plan_packing` (whole conversations, padding, the epoch's unfinished tail dropped); the plan is a function of
lengths only, so the state is just (epoch, sequence index) per source.
"""

from __future__ import annotations

import hashlib
import json
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator, Sequence

import numpy as np

from prolong.data.packing import PackedSequence
from prolong.sft.config import SFTDataConfig
from prolong.sft.formats import Conversation, load_conversations
from prolong.sft.packing import PackPlan, materialize, plan_packing
from prolong.sft.template import EncodedConversation, encode_conversation

STATE_VERSION = 1
CACHE_VERSION = 1


@dataclass
class EncodedSet:
    """The tokenized conversations of one source, flat: conversation i is ids[offsets[i]:offsets[i+1]]."""

    ids: np.ndarray        # (total,) int32
    mask: np.ndarray       # (total,) bool, True on assistant tokens
    offsets: np.ndarray    # (n + 1,) int64
    info: dict = field(default_factory=dict)   # load report (n_records, skipped) and cache key

    @classmethod
    def from_encoded(cls, convs: Sequence[EncodedConversation], info: dict | None = None) -> "EncodedSet":
        lens = np.array([len(c) for c in convs], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
        ids = np.concatenate([c.input_ids for c in convs]).astype(np.int32) if convs else np.zeros(0, np.int32)
        mask = np.concatenate([c.loss_mask for c in convs]).astype(bool) if convs else np.zeros(0, bool)
        return cls(ids, mask, offsets, info or {})

    def __len__(self) -> int:
        return len(self.offsets) - 1

    def __getitem__(self, i: int) -> EncodedConversation:
        a, b = int(self.offsets[i]), int(self.offsets[i + 1])
        return EncodedConversation(self.ids[a:b], self.mask[a:b])

    @property
    def lengths(self) -> np.ndarray:
        return np.diff(self.offsets)

    def first_target(self) -> np.ndarray:
        """(n,) position of each conversation's first target token (its length when it has none)."""
        pos = np.flatnonzero(self.mask)
        conv = np.searchsorted(self.offsets, pos, side="right") - 1
        first = self.lengths.copy()
        uniq, idx = np.unique(conv, return_index=True)
        first[uniq] = pos[idx] - self.offsets[uniq]
        return first


def encode_conversations(convs: Sequence[Conversation] | Sequence[list[dict]], tokenizer, mask_method: str = "auto",
                         info: dict | None = None) -> EncodedSet:
    out = []
    for c in convs:
        msgs = c.messages if isinstance(c, Conversation) else c
        out.append(encode_conversation(tokenizer, msgs, mask_method))  # type: ignore[arg-type]
    return EncodedSet.from_encoded(out, info)


def _cache_key(path: Path, fmt: str, strict: bool, limit, tokenizer, mask_method: str) -> str:
    st = path.stat() if path.is_file() else None
    if st is None:  # a datasets folder: its files' sizes and times
        files = sorted(p for p in path.rglob("*") if p.is_file())
        stamp = [(str(p.relative_to(path)), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    else:
        stamp = [st.st_size, st.st_mtime_ns]
    vocab = sorted(tokenizer.get_vocab().items())
    blob = json.dumps([CACHE_VERSION, str(path.resolve()), stamp, fmt, strict, limit, mask_method,
                       tokenizer.chat_template, tokenizer.bos_token_id,
                       hashlib.sha256(json.dumps(vocab).encode()).hexdigest()])
    return hashlib.sha256(blob.encode()).hexdigest()[:24]


def load_source(path: str | Path, tokenizer, fmt: str = "auto", strict: bool = True, limit: int | None = None,
                mask_method: str = "auto", cache_dir: str | Path | None = None) -> EncodedSet:
    """Load, normalise and chat-format one source (with an on-disk cache when `cache_dir` is given)."""
    path = Path(path)
    cache = None
    if cache_dir is not None:
        key = _cache_key(path, fmt, strict, limit, tokenizer, mask_method)
        cache = Path(cache_dir) / f"{path.stem}-{key}.npz"
        if cache.is_file():
            z = np.load(cache, allow_pickle=False)
            return EncodedSet(z["ids"], z["mask"], z["offsets"], json.loads(str(z["info"])))
    convs, report = load_conversations(path, fmt, strict, limit)  # type: ignore[arg-type]
    info = {"path": str(path), "n_records": report.n_records, "n_loaded": report.n_loaded,
            "skipped": report.skipped}
    enc = encode_conversations(convs, tokenizer, mask_method, info)
    if cache is not None:
        import os

        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(cache.name + f".tmp{os.getpid()}.npz")
        np.savez(tmp, ids=enc.ids, mask=enc.mask, offsets=enc.offsets, info=np.array(json.dumps(info)))
        os.replace(tmp, cache)
    return enc


class _SourceReader:
    """Walks one source's packing plan epoch by epoch."""

    def __init__(self, name: str, data: EncodedSet, seq_len: int, seed: int, lookahead: int, overlong: str):
        self.name, self.data, self.seq_len, self.seed = name, data, seq_len, seed
        self.lookahead, self.overlong = lookahead, overlong
        self.key = zlib.crc32(name.encode())
        self.lengths = data.lengths
        self.fits_target = data.first_target() < seq_len
        self.epoch, self.pos = 0, 0
        self._plan_epoch: int | None = None
        self._plan: PackPlan | None = None
        if len(self.plan().sequences) == 0:
            raise ValueError(f"SFT source {name!r}: its {len(data)} conversations do not fill one sequence of "
                             f"{seq_len} tokens")

    def plan(self) -> PackPlan:
        if self._plan_epoch != self.epoch:
            order = np.random.default_rng([self.seed, self.key, self.epoch]).permutation(len(self.data))
            self._plan = plan_packing(self.lengths, self.seq_len, order, self.lookahead, self.overlong,  # type: ignore[arg-type]
                                      self.fits_target)
            self._plan_epoch = self.epoch
        return self._plan  # type: ignore[return-value]

    def next_pieces(self) -> list[tuple[int, int]]:
        pieces = self.plan().sequences[self.pos]
        self.pos += 1
        if self.pos >= len(self.plan().sequences):
            self.epoch, self.pos = self.epoch + 1, 0
        return pieces

    def state(self) -> dict:
        return {"epoch": self.epoch, "pos": self.pos}

    def load(self, s: dict) -> None:
        self.epoch, self.pos = int(s["epoch"]), int(s["pos"])


class SFTStream:
    """Infinite iterator of packed SFT sequences mixing sources by token proportions (module doc)."""

    def __init__(self, sources: dict[str, EncodedSet], proportions: dict[str, float], seq_len: int, pad_id: int,
                 seed: int = 0, dp_rank: int = 0, dp_size: int = 1, lookahead: int = 8, overlong: str = "truncate"):
        if not 0 <= dp_rank < dp_size:
            raise ValueError(f"dp_rank {dp_rank} must be in [0, dp_size={dp_size})")
        props = {d: float(p) for d, p in proportions.items() if p > 0}
        if abs(sum(props.values()) - 1) > 1e-6:
            raise ValueError(f"proportions sum to {sum(props.values())}, expected 1")
        self.seq_len, self.pad_id, self.seed = seq_len, pad_id, seed
        self.dp_rank, self.dp_size = dp_rank, dp_size
        self.proportions = props
        self.names = list(props)
        self._p = np.array([props[d] for d in self.names])
        self.readers = [_SourceReader(d, sources[d], seq_len, seed, lookahead, overlong) for d in self.names]
        self.n_global = 0
        self.counts = np.zeros(len(self.names), dtype=np.int64)
        self.tokens_per_domain = {d: 0 for d in self.names}          # tokens of the samples THIS rank yielded
        self.targets_per_domain = {d: 0 for d in self.names}         # target tokens of those samples

    @classmethod
    def from_config(cls, cfg: SFTDataConfig, tokenizer, seq_len: int, seed: int = 0, dp_rank: int = 0,
                    dp_size: int = 1, cache_dir: str | Path | None = None) -> "SFTStream":
        return sft_stream_factory(cfg, tokenizer, seq_len, seed, cache_dir)(dp_rank, dp_size)

    def __iter__(self) -> Iterator[PackedSequence]:
        return self

    def __next__(self) -> PackedSequence:
        mine = None
        for r in range(self.dp_size):                 # one round: one sequence per data-parallel rank
            d = int(np.argmax(self._p * (self.n_global + 1) - self.counts))
            reader = self.readers[d]
            pieces = reader.next_pieces()
            self.counts[d] += 1
            self.n_global += 1
            if r == self.dp_rank:
                mine = materialize(pieces, reader.data, self.seq_len, self.pad_id, reader.name)
                self.tokens_per_domain[reader.name] += self.seq_len
                self.targets_per_domain[reader.name] += int(mine.loss_mask[1:].sum())
        return mine  # type: ignore[return-value]

    def take(self, n: int) -> list[PackedSequence]:
        return [next(self) for _ in range(n)]

    @property
    def global_tokens_per_domain(self) -> dict[str, int]:
        return {d: int(c) * self.seq_len for d, c in zip(self.names, self.counts)}

    def epoch_stats(self) -> dict[str, dict]:
        """Per source: the packing stats of its current epoch and its load report."""
        return {r.name: {**r.plan().stats.to_dict(), "load": r.data.info} for r in self.readers}

    def state_dict(self) -> dict:
        return {"version": STATE_VERSION, "kind": "sft", "seed": self.seed, "seq_len": self.seq_len,
                "proportions": self.proportions, "n_global": self.n_global,
                "counts": {d: int(c) for d, c in zip(self.names, self.counts)},
                "sources": {r.name: r.state() for r in self.readers},
                "tokens_per_domain": dict(self.tokens_per_domain),
                "targets_per_domain": dict(self.targets_per_domain)}

    def load_state_dict(self, state: dict) -> None:
        for key, mine in (("seed", self.seed), ("seq_len", self.seq_len), ("proportions", self.proportions)):
            if state.get(key) != mine:
                raise ValueError(f"SFT data state was saved with {key}={state.get(key)!r}, this stream has {mine!r}")
        self.n_global = int(state["n_global"])
        self.counts = np.array([int(state["counts"][d]) for d in self.names], dtype=np.int64)
        for r in self.readers:
            r.load(state["sources"][r.name])
        self.tokens_per_domain = {d: int(state["tokens_per_domain"].get(d, 0)) for d in self.names}
        self.targets_per_domain = {d: int(state.get("targets_per_domain", {}).get(d, 0)) for d in self.names}


def pad_id_of(tokenizer) -> int:
    pad = tokenizer.pad_token_id
    return int(pad if pad is not None else tokenizer.eos_token_id)


def sft_stream_factory(cfg: SFTDataConfig, tokenizer, seq_len: int, seed: int = 0,
                       cache_dir: str | Path | None = None) -> Callable[[int, int], SFTStream]:
    """Load and encode every source once (cached under `cache_dir`), then (dp_rank, dp_size) -> SFTStream."""
    if cache_dir is None and cfg.cache:
        from prolong import paths

        cache_dir = paths.data_dir() / "sft_cache"
    props = cfg.proportions()
    sources = {name: load_source(cfg.sources[name].resolved_path(), tokenizer, cfg.sources[name].format,
                                 cfg.sources[name].strict, cfg.sources[name].limit, cfg.mask_method, cache_dir)
               for name in props}
    pad = pad_id_of(tokenizer)

    def factory(dp_rank: int, dp_size: int) -> SFTStream:
        return SFTStream(sources, props, seq_len, pad, seed, dp_rank, dp_size, cfg.lookahead, cfg.overlong)

    return factory
