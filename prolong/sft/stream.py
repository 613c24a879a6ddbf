"""The SFT data stream: chat-formatted conversations of one or more sources, tokenized once (with an on-disk cache),
each source packed by a `prolong.sft.packing.ConversationReader` (whole conversations with assistant loss masks,
padding, the epoch's unfinished tail dropped) and mixed by token proportions by `prolong.data.mixing.MixtureStream`,
the same stream as pretraining: `next()`, `state_dict()` / `load_state_dict()`, rank r of dp_size takes the r-th
sequence of every round (disjoint).

    factory = sft_stream_factory(cfg, tokenizer, seq_len=65536, seed=0)   # loads and encodes every source once
    stream = factory(dp_rank, dp_size)                                     # a MixtureStream of SFT sequences

All sequences have seq_len tokens, so the realised share of TOKENS (= share of sequences) of each source stays within
one sequence of its target: |share_d - p_d| < 1/n after n sequences (e.g. synthetic long data at 1/3/10/50%). The
share of conversations is NOT the knob: one synthetic long conversation fills a whole sequence while a short one
takes ~1/50 of it at paper scale (and one short SFT conversation is ~1.2K tokens, Table 22's UltraChat).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from prolong.data.mixing import MixtureStream, check_stream_args
from prolong.sft.config import SFTDataConfig
from prolong.sft.formats import Conversation, load_conversations
from prolong.sft.packing import ConversationReader, Overlong
from prolong.sft.template import EncodedConversation, EncodedSet, encode_conversation

CACHE_VERSION = 1


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
        cache.parent.mkdir(parents=True, exist_ok=True)
        tmp = cache.with_name(cache.name + f".tmp{os.getpid()}.npz")
        np.savez(tmp, ids=enc.ids, mask=enc.mask, offsets=enc.offsets, info=np.array(json.dumps(info)))
        os.replace(tmp, cache)
    return enc


def sft_stream(sources: dict[str, EncodedSet], proportions: dict[str, float], seq_len: int, pad_id: int,
               seed: int = 0, dp_rank: int = 0, dp_size: int = 1, lookahead: int = 8,
               overlong: Overlong = "truncate") -> MixtureStream:
    """The SFT stream: one ConversationReader per source with a positive proportion, mixed by MixtureStream."""
    check_stream_args(seq_len, dp_rank, dp_size)
    props = {d: float(p) for d, p in proportions.items() if p > 0}
    if abs(sum(props.values()) - 1) > 1e-6:
        raise ValueError(f"proportions sum to {sum(props.values())}, expected 1")
    readers = [ConversationReader(d, sources[d], seq_len, pad_id, seed, lookahead, overlong) for d in props]
    return MixtureStream(readers, props, seq_len, seed, dp_rank, dp_size)


def pad_id_of(tokenizer) -> int:
    pad = tokenizer.pad_token_id
    return int(pad if pad is not None else tokenizer.eos_token_id)


def sft_stream_factory(cfg: SFTDataConfig, tokenizer, seq_len: int, seed: int = 0,
                       cache_dir: str | Path | None = None) -> Callable[[int, int], MixtureStream]:
    """Load and encode every source once (cached under `cache_dir`), then (dp_rank, dp_size) -> the SFT stream."""
    if cache_dir is None and cfg.cache:
        from prolong import paths

        cache_dir = paths.data_dir() / "sft_cache"
    props = cfg.proportions()
    sources = {name: load_source(cfg.sources[name].resolved_path(), tokenizer, cfg.sources[name].format,
                                 cfg.sources[name].strict, cfg.sources[name].limit, cfg.mask_method, cache_dir)
               for name in props}
    pad = pad_id_of(tokenizer)

    def factory(dp_rank: int, dp_size: int) -> MixtureStream:
        return sft_stream(sources, props, seq_len, pad, seed, dp_rank, dp_size, cfg.lookahead, cfg.overlong)

    return factory
