"""Building token stores (the layout and the reader are prolong.data.token_store): a source tokenized shard by
shard in worker processes, resumable after a kill, refused when the source changed since the build started, and a
damaged shard of a complete store rebuilt alone."""

from __future__ import annotations

import hashlib
import os
import sys
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from prolong.data.config import CorpusConfig, SourceConfig
from prolong.data.sources import SourceError, iter_documents, source_fingerprint
from prolong.data.token_store import (FORMAT_VERSION, TOKEN_DTYPE, DamagedStoreError, TokenStore, _shard_name,
                                      check_same_tokenizer, shard_problems, store_intact)
from prolong.data.tokenizer import TokenizerIdentity, identity_of, load_fast_tokenizer, load_tokenizer
from prolong.integrity import record_files
from prolong.io import atomic_write_bytes, atomic_write_json, read_json
from prolong.progress import quiet

_SUB_BATCH_CHARS = 2_000_000   # texts handed to the tokenizer at once (bounds worker memory)


class SourceChangedError(ValueError):
    """An unfinished build whose source changed since it started (resuming would mix old and new documents)."""


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
    tokens_sha = hashlib.sha256()
    with open(tmp_tokens, "wb") as raw:
        f = _HashingWriter(raw, tokens_sha)
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
        raw.flush()
        os.fsync(raw.fileno())
    os.replace(tmp_tokens, out / f"{name}.tokens")
    offsets = np.zeros(len(lengths) + 1, dtype=np.int64)
    np.cumsum(lengths, out=offsets[1:])
    offsets_bytes = _npy_bytes(offsets)
    atomic_write_bytes(out / f"{name}.offsets.npy", offsets_bytes)
    files = {f"{name}.tokens": {"size": f.size, "sha256": tokens_sha.hexdigest()},
             f"{name}.offsets.npy": {"size": len(offsets_bytes), "sha256": hashlib.sha256(offsets_bytes).hexdigest()}}
    atomic_write_json(out / f"{name}.done.json", {"n_docs": len(lengths), "n_tokens": int(offsets[-1]),
                                                   "n_docs_read": len(docs), "files": files,
                                                   "docs_sha256": docs_digest(docs)})
    return index, len(lengths), int(offsets[-1])


class _HashingWriter:
    """A binary file that hashes and counts what is written to it (the shard's checksum costs no second read)."""

    def __init__(self, raw, digest):
        self.raw, self.digest, self.size = raw, digest, 0

    def write(self, data: bytes) -> None:
        self.raw.write(data)
        self.digest.update(data)
        self.size += len(data)


def _npy_bytes(array: np.ndarray) -> bytes:
    import io

    buf = io.BytesIO()
    np.save(buf, array)
    return buf.getvalue()


def docs_digest(docs: list) -> str:
    """sha256 of a shard's documents as read from the source (text or token ids): what the shard was made from."""
    h = hashlib.sha256()
    for doc in docs:
        data = doc.astype(TOKEN_DTYPE).tobytes() if isinstance(doc, np.ndarray) else doc.encode("utf-8", "surrogatepass")
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


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
                      shard_chars: int = 64_000_000, name: str = "", force: bool = False, pool=None,
                      verify: bool = False, doc_end: str | None = None) -> TokenStore:
    """Tokenize `source` into a token store at `out_dir` (resuming a killed build; skipping a complete one, after
    checking its shards' sizes, or with `verify` their checksums: a damaged shard is rebuilt). `doc_end`: the token
    packing puts after each document, recorded as the store's `eos_id` (prolong.data.tokenizer.identity_of).

    workers <= 1 tokenizes in this process; otherwise in `workers` processes (or the given multiprocessing `pool`)."""
    out = Path(out_dir)
    label = name or out.name
    identity = identity_of(tokenizer_path, doc_end)
    if (out / "store.json").exists() and not force:
        try:
            store = TokenStore.open(out, expect=identity, verify=verify)
            if store.tokenizer.eos_id != identity.eos_id:
                raise ValueError(f"doc_end_token: {out / 'store.json'}: store {label} was built with document-end "
                                 f"token id {store.tokenizer.eos_id}, not {identity.eos_id}; rebuild it (--force)")
            return store
        except DamagedStoreError as err:  # rebuild only the damaged shards (the others are intact and reused)
            print(f"warning: store {label}: {err}; rebuilding {', '.join(err.shards)}", file=sys.stderr)
            for shard in err.shards:
                for suffix in (".tokens", ".offsets.npy", ".done.json"):
                    (out / f"{shard}{suffix}").unlink(missing_ok=True)
            (out / "store.json").unlink()
    build_info = {"format": FORMAT_VERSION, "tokenizer": identity.to_dict(), "source": source.to_dict(),
                  "shard_chars": shard_chars}
    fingerprint = source_fingerprint(source)
    if (out / "build.json").exists() and not force:
        old = read_json(out / "build.json")
        if old.get("tokenizer", {}).get("vocab_hash") != identity.vocab_hash:
            check_same_tokenizer(TokenizerIdentity.from_dict(old["tokenizer"]), identity, str(out))
        if {k: v for k, v in old.items() if k != "source_files"} != build_info:
            raise ValueError(f"{out / 'build.json'}: an unfinished build of this store used other params; "
                             "delete the folder or pass force=True")
        if "source_files" in old:  # stores of an older version have no fingerprint: their shards' digests decide
            check_same_source(old["source_files"], fingerprint, out / "build.json")
    if force and out.exists():
        import shutil

        shutil.rmtree(out)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_json(out / "build.json", {**build_info, "source_files": fingerprint})

    results: dict[int, tuple[int, int]] = {}
    n_read = 0

    def pending() -> Iterator[tuple[int, list]]:
        nonlocal n_read
        for index, docs in _plan_shards(iter_documents(source), shard_chars):
            n_read += len(docs)
            marker = out / f"{_shard_name(index)}.done.json"
            if marker.exists():                      # done before a kill: skip the work
                m = read_json(marker)
                if m.get("docs_sha256", docs_digest(docs)) != docs_digest(docs):
                    raise SourceChangedError(
                        f"{marker}: the documents of {_shard_name(index)} read from {source.path} now differ from "
                        "the ones it was built from (the source changed); resuming would mix old and new "
                        "documents: rebuild with --force, or restore the source")
                if not shard_problems(out, {"name": _shard_name(index), **m}):
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
    shards = [{"name": _shard_name(i), "n_docs": results[i][0], "n_tokens": results[i][1],
               "files": read_json(out / f"{_shard_name(i)}.done.json")["files"]} for i in sorted(results)]
    n_docs = sum(s["n_docs"] for s in shards)
    if n_docs == 0:
        raise SourceError(f"{source.path}: source {label!r} has no document of at least min_tokens="
                          f"{source.min_tokens} tokens ({n_read} read)")
    meta = {**build_info, "name": label, "shards": shards, "n_docs": n_docs,
            "n_tokens": sum(s["n_tokens"] for s in shards), "n_docs_read": n_read, "dtype": "uint32"}
    atomic_write_json(out / "store.json", meta)
    return TokenStore.open(out, expect=identity)


def check_same_source(old: list[dict], new: list[dict], where: Path) -> None:
    """Refuse to resume a build whose source files changed (size or mtime, added or removed files)."""
    before, now = {f["path"]: f for f in old}, {f["path"]: f for f in new}
    for path in sorted(set(before) | set(now)):
        a, b = before.get(path), now.get(path)
        if a is None or b is None or (a["size"], a["mtime_ns"]) != (b["size"], b["mtime_ns"]):
            what = ("was added" if a is None else "was removed" if b is None else
                    f"changed (size {a['size']} -> {b['size']}, mtime {a['mtime_ns']} -> {b['mtime_ns']})")
            raise SourceChangedError(f"{where}: source file {path} {what} since this build started; resuming "
                                     "would mix old and new documents: rebuild with --force, or restore the source")



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
                        workers: int | None = None, verify: bool = False) -> dict[str, TokenStore]:
    """Tokenize every source of a corpus (or `only` some) into `<store_root>/<source>`."""
    names = only or list(corpus.sources)
    unknown = [n for n in names if n not in corpus.sources]
    if unknown:
        raise KeyError(f"source {unknown[0]!r} is not in the corpus (sources: {', '.join(corpus.sources)})")
    workers = corpus.workers if workers is None else workers
    try:  # fail here, clearly, not in pool workers (a pool respawns them forever)
        identity_of(corpus.tokenizer_path(), corpus.doc_end_token)
    except ValueError as err:
        raise ValueError(f"doc_end_token: {err}") from err
    todo = [n for n in names if force or verify or not store_intact(corpus.store_path(n))]
    pool = make_pool(corpus.tokenizer_path(), workers) if workers > 1 and todo else None
    try:
        return {n: build_token_store(corpus.sources[n], corpus.store_path(n), corpus.tokenizer_path(), workers=workers,
                                     shard_chars=corpus.shard_chars, name=n, force=force, pool=pool,
                                     verify=verify, doc_end=corpus.doc_end_token)
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
        shards.append({"name": sname, "n_docs": len(chunk), "n_tokens": int(offsets[-1]),
                       "files": record_files(out, [f"{sname}.tokens", f"{sname}.offsets.npy"])})
    meta = {"format": FORMAT_VERSION, "tokenizer": tokenizer.to_dict(), "source": {"kind": "synthetic"},
            "name": name or out.name, "shards": shards, "n_docs": len(docs),
            "n_tokens": sum(s["n_tokens"] for s in shards), "n_docs_read": len(docs), "dtype": "uint32"}
    atomic_write_json(out / "store.json", meta)
    return TokenStore.open(out)
