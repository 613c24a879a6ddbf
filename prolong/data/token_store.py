"""The token store: a source tokenized once into memory-mapped shards, with document offsets.

Layout of a store folder:
    build.json                 what is being built (tokenizer identity, source params); written first
    shard_00000.tokens         raw np.uint32 token ids of all kept documents of the shard, concatenated (no BOS/EOS)
    shard_00000.offsets.npy    np.int64, shape (n_docs + 1,): document j is tokens[offsets[j]:offsets[j+1]]
    shard_00000.done.json      completion marker, written last (atomically) for the shard
    store.json                 written when every shard is done: the store is complete

A shard is a run of consecutive documents of the source, cut every `shard_chars` characters, so the plan is the same
on every run; a killed build resumes by skipping the shards that have a completion marker. Shards are tokenized in
parallel by worker processes. Reading a store keeps only the memory maps open: memory does not grow with its size.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from prolong.data.config import CorpusConfig, SourceConfig
from prolong.data.sources import SourceError, iter_documents
from prolong.data.tokenizer import (TokenizerIdentity, TokenizerMismatchError, identity_of, load_fast_tokenizer,
                                    load_tokenizer)
from prolong.io import atomic_write_bytes, atomic_write_json, read_json
from prolong.progress import quiet

TOKEN_DTYPE = np.uint32
FORMAT_VERSION = 1
_SUB_BATCH_CHARS = 2_000_000   # texts handed to the tokenizer at once (bounds worker memory)


def _shard_name(i: int) -> str:
    return f"shard_{i:05d}"


# ---- reading ---------------------------------------------------------------------------------------------------

@dataclass
class Shard:
    """One shard: `tokens` (n_tokens,) uint32 memmap and `offsets` (n_docs + 1,) int64."""

    tokens: np.ndarray
    offsets: np.ndarray

    @property
    def n_docs(self) -> int:
        return len(self.offsets) - 1

    def lengths(self) -> np.ndarray:
        """(n_docs,) int64 document lengths in tokens."""
        return np.diff(self.offsets)

    def doc(self, j: int) -> np.ndarray:
        return self.tokens[self.offsets[j]:self.offsets[j + 1]]


class TokenStore:
    """A complete token store, opened read-only with memory maps."""

    def __init__(self, path: Path, meta: dict, shards: list[Shard]):
        self.path = path
        self.meta = meta
        self.shards = shards
        self.tokenizer = TokenizerIdentity.from_dict(meta["tokenizer"])

    @classmethod
    def open(cls, path: str | Path, expect: TokenizerIdentity | None = None) -> "TokenStore":
        """Open a complete store; `expect` (the tokenizer in use) must match the one the store was built with."""
        path = Path(path)
        meta_path = path / "store.json"
        if not meta_path.is_file():
            hint = " (build incomplete: rerun the tokenization to resume it)" if (path / "build.json").exists() else ""
            raise FileNotFoundError(f"{meta_path}: token store not found{hint}")
        meta = read_json(meta_path)
        store_tok = TokenizerIdentity.from_dict(meta["tokenizer"])
        if expect is not None:
            check_same_tokenizer(store_tok, expect, str(path))
        shards = []
        for s in meta["shards"]:
            offsets = np.load(path / f"{s['name']}.offsets.npy", mmap_mode="r")
            tok_path = path / f"{s['name']}.tokens"
            n = int(offsets[-1]) if len(offsets) else 0
            tokens = np.memmap(tok_path, dtype=TOKEN_DTYPE, mode="r", shape=(n,)) if n else np.zeros(0, TOKEN_DTYPE)
            shards.append(Shard(tokens, offsets))
        return cls(path, meta, shards)

    @property
    def n_docs(self) -> int:
        return int(self.meta["n_docs"])

    @property
    def n_tokens(self) -> int:
        return int(self.meta["n_tokens"])

    def doc_lengths(self) -> np.ndarray:
        """(n_docs,) int64 lengths of every document (for statistics)."""
        return np.concatenate([s.lengths() for s in self.shards]) if self.shards else np.zeros(0, np.int64)

    def iter_docs(self) -> Iterator[np.ndarray]:
        for s in self.shards:
            for j in range(s.n_docs):
                yield s.doc(j)


def check_same_tokenizer(store_tok: TokenizerIdentity, expect: TokenizerIdentity, where: str) -> None:
    if store_tok.vocab_hash != expect.vocab_hash:
        raise TokenizerMismatchError(
            f"{where}: token store was built with tokenizer {store_tok.name!r} (vocab {store_tok.vocab_size}, "
            f"hash {store_tok.vocab_hash[:12]}), but tokenizer {expect.name!r} (vocab {expect.vocab_size}, "
            f"hash {expect.vocab_hash[:12]}) is in use; rebuild the store with this tokenizer")


# ---- building --------------------------------------------------------------------------------------------------

_WORKER_TOKENIZER = None


def _init_worker(tokenizer_path: str, in_process: bool = False) -> None:
    """Load the tokenizer once per worker (the `tokenizers` backend when there is a tokenizer.json)."""
    global _WORKER_TOKENIZER
    if not in_process:
        os.environ["TOKENIZERS_PARALLELISM"] = "false"   # one thread per worker process: workers are the parallelism
    fast = load_fast_tokenizer(tokenizer_path)
    _WORKER_TOKENIZER = fast[0] if fast is not None else load_tokenizer(tokenizer_path)


def _encode(texts: list[str]) -> list[np.ndarray]:
    if hasattr(_WORKER_TOKENIZER, "encode_batch"):       # tokenizers.Tokenizer
        return [np.asarray(e.ids, dtype=TOKEN_DTYPE) for e in _WORKER_TOKENIZER.encode_batch(texts, add_special_tokens=False)]
    enc = _WORKER_TOKENIZER(texts, add_special_tokens=False, return_attention_mask=False)["input_ids"]
    return [np.asarray(ids, dtype=TOKEN_DTYPE) for ids in enc]


def _tokenize_shard(out_dir: str, index: int, docs: list, min_tokens: int) -> tuple[int, int, int]:
    """Tokenize one shard's documents and write its files; returns (index, docs kept, tokens kept)."""
    out = Path(out_dir)
    name = _shard_name(index)
    tmp_tokens = out / f".{name}.tokens.tmp"
    lengths: list[int] = []
    with open(tmp_tokens, "wb") as f:
        batch: list[str] = []
        size = 0

        def flush_batch() -> None:
            nonlocal batch, size
            if batch:
                for ids in _encode(batch):
                    if len(ids) >= min_tokens:
                        f.write(ids.tobytes())
                        lengths.append(len(ids))
            batch, size = [], 0

        for doc in docs:
            if isinstance(doc, np.ndarray):          # already token ids (MDS); keep order with pending texts
                flush_batch()
                if len(doc) >= min_tokens:
                    f.write(doc.astype(TOKEN_DTYPE).tobytes())
                    lengths.append(len(doc))
                continue
            batch.append(doc)
            size += len(doc)
            if size >= _SUB_BATCH_CHARS:
                flush_batch()
        flush_batch()
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp_tokens, out / f"{name}.tokens")
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    import io

    buf = io.BytesIO()
    np.save(buf, offsets)
    atomic_write_bytes(out / f"{name}.offsets.npy", buf.getvalue())
    atomic_write_json(out / f"{name}.done.json", {"n_docs": len(lengths), "n_tokens": int(offsets[-1]),
                                                   "n_docs_read": len(docs)})
    return index, len(lengths), int(offsets[-1])


def _plan_shards(docs: Iterator, shard_chars: int) -> Iterator[tuple[int, list]]:
    """Cut the document stream into shards of about `shard_chars` characters (token arrays count 4 chars/token)."""
    batch, size, index = [], 0, 0
    for doc in docs:
        batch.append(doc)
        size += len(doc) * (4 if isinstance(doc, np.ndarray) else 1)
        if size >= shard_chars:
            yield index, batch
            batch, size, index = [], 0, index + 1
    if batch:
        yield index, batch


def build_token_store(source: SourceConfig, out_dir: str | Path, tokenizer_path: str, workers: int = 2,
                      shard_chars: int = 64_000_000, name: str = "", force: bool = False, pool=None) -> TokenStore:
    """Tokenize `source` into a token store at `out_dir` (resuming a killed build; skipping a complete one).

    workers <= 1 tokenizes in this process; otherwise in `workers` processes (or the given multiprocessing `pool`)."""
    out = Path(out_dir)
    label = name or out.name
    identity = identity_of(tokenizer_path)
    if (out / "store.json").exists() and not force:
        return TokenStore.open(out, expect=identity)
    build_info = {"format": FORMAT_VERSION, "tokenizer": identity.to_dict(), "source": source.to_dict(),
                  "shard_chars": shard_chars}
    if (out / "build.json").exists() and not force:
        old = read_json(out / "build.json")
        if old.get("tokenizer", {}).get("vocab_hash") != identity.vocab_hash:
            check_same_tokenizer(TokenizerIdentity.from_dict(old["tokenizer"]), identity, str(out))
        if old != build_info:
            raise ValueError(f"{out / 'build.json'}: an unfinished build of this store used other params; "
                             "delete the folder or pass force=True")
    if force and out.exists():
        import shutil

        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "build.json", build_info)

    results: dict[int, tuple[int, int]] = {}
    n_read = 0

    def pending() -> Iterator[tuple[int, list]]:
        nonlocal n_read
        for index, docs in _plan_shards(iter_documents(source), shard_chars):
            n_read += len(docs)
            marker = out / f"{_shard_name(index)}.done.json"
            if marker.exists():                      # done before a kill: skip the work
                m = read_json(marker)
                results[index] = (m["n_docs"], m["n_tokens"])
                continue
            yield index, docs

    bar = None
    if not quiet():
        from tqdm import tqdm

        bar = tqdm(desc=f"tokenize {label}", unit="shard")
    record = _record_result(results, bar)
    if pool is not None:
        _feed_pool(pool, pending(), str(out), source.min_tokens, workers, record)
    elif workers <= 1:
        _init_worker(tokenizer_path, in_process=True)
        for index, docs in pending():
            record(_tokenize_shard(str(out), index, docs, source.min_tokens))
    else:
        with make_pool(tokenizer_path, workers) as pool:
            _feed_pool(pool, pending(), str(out), source.min_tokens, workers, record)
    if bar is not None:
        bar.close()

    if n_read == 0:
        raise SourceError(f"{source.path}: source {label!r} ({source.kind}) has no documents")
    shards = [{"name": _shard_name(i), "n_docs": results[i][0], "n_tokens": results[i][1]} for i in sorted(results)]
    n_docs = sum(s["n_docs"] for s in shards)
    if n_docs == 0:
        raise SourceError(f"{source.path}: source {label!r} has no document of at least min_tokens="
                          f"{source.min_tokens} tokens ({n_read} read)")
    meta = {**build_info, "name": label, "shards": shards, "n_docs": n_docs,
            "n_tokens": sum(s["n_tokens"] for s in shards), "n_docs_read": n_read, "dtype": "uint32"}
    atomic_write_json(out / "store.json", meta)
    return TokenStore.open(out, expect=identity)


def _record_result(results: dict, bar) -> Callable[[tuple[int, int, int]], None]:
    def record(r: tuple[int, int, int]) -> None:
        results[r[0]] = (r[1], r[2])
        if bar is not None:
            bar.update(1)
    return record


def make_pool(tokenizer_path: str, workers: int):
    """A process pool whose workers hold the tokenizer (fork on Linux: no re-import)."""
    import multiprocessing as mp

    ctx = mp.get_context("fork" if sys.platform.startswith("linux") else "spawn")
    return ctx.Pool(workers, initializer=_init_worker, initargs=(tokenizer_path,))


def _feed_pool(pool, jobs: Iterator[tuple[int, list]], out: str, min_tokens: int, workers: int,
               record: Callable) -> None:
    """Submit shards to the pool, at most 2 per worker in flight (bounded memory), recording results in order."""
    in_flight = []
    for index, docs in jobs:
        in_flight.append(pool.apply_async(_tokenize_shard, (out, index, docs, min_tokens)))
        while len(in_flight) >= 2 * workers:
            record(in_flight.pop(0).get())
    for r in in_flight:
        record(r.get())


def build_corpus_stores(corpus: CorpusConfig, only: list[str] | None = None, force: bool = False,
                        workers: int | None = None) -> dict[str, TokenStore]:
    """Tokenize every source of a corpus (or `only` some) into `<store_root>/<source>`."""
    names = only or list(corpus.sources)
    unknown = [n for n in names if n not in corpus.sources]
    if unknown:
        raise KeyError(f"source {unknown[0]!r} is not in the corpus (sources: {', '.join(corpus.sources)})")
    workers = corpus.workers if workers is None else workers
    identity_of(corpus.tokenizer_path())     # fail here, clearly, not in pool workers (a pool respawns them forever)
    todo = [n for n in names if force or not (corpus.store_path(n) / "store.json").is_file()]
    pool = make_pool(corpus.tokenizer_path(), workers) if workers > 1 and todo else None
    try:
        return {n: build_token_store(corpus.sources[n], corpus.store_path(n), corpus.tokenizer_path(), workers=workers,
                                     shard_chars=corpus.shard_chars, name=n, force=force, pool=pool)
                for n in names}
    finally:
        if pool is not None:
            pool.close()
            pool.join()


def write_token_store(out_dir: str | Path, docs: list[np.ndarray], tokenizer: TokenizerIdentity,
                      docs_per_shard: int = 1000, name: str = "") -> TokenStore:
    """Write already-tokenized documents as a complete store (synthetic corpora for tests and benchmarks)."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    shards = []
    for index, start in enumerate(range(0, len(docs), docs_per_shard)):
        chunk = docs[start:start + docs_per_shard]
        sname = _shard_name(index)
        lengths = np.array([len(d) for d in chunk], dtype=np.int64)
        offsets = np.concatenate([[0], np.cumsum(lengths)]).astype(np.int64)
        with open(out / f"{sname}.tokens", "wb") as f:
            for d in chunk:
                f.write(np.asarray(d, dtype=TOKEN_DTYPE).tobytes())
        np.save(out / f"{sname}.offsets.npy", offsets)
        shards.append({"name": sname, "n_docs": len(chunk), "n_tokens": int(offsets[-1])})
    meta = {"format": FORMAT_VERSION, "tokenizer": tokenizer.to_dict(), "source": {"kind": "synthetic"},
            "name": name or out.name, "shards": shards, "n_docs": len(docs),
            "n_tokens": sum(s["n_tokens"] for s in shards), "n_docs_read": len(docs), "dtype": "uint32"}
    atomic_write_json(out / "store.json", meta)
    return TokenStore.open(out)
