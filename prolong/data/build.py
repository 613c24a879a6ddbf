"""`build_tiny_data()`: the toy corpus, the tiny tokenizer and the tiny token stores, built once (idempotent).

Steps, each skipped when its output exists and matches `params/tiny/corpus.yaml`:
    1. toy corpus    <data>/tiny/corpus/<source>.jsonl + manifest.json          (prolong.data.toy_corpus)
    2. tokenizer     <data>/tiny/tokenizer/  (Hugging Face format, chat template) (prolong.data.tokenizer)
    3. token stores  <data>/tiny/stores/<source>/                               (prolong.data.token_store)
A file lock makes concurrent callers (tests, training, notebooks) wait for one builder.
"""

from __future__ import annotations

import fcntl
import shutil
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

from prolong import paths
from prolong.config import ConfigError
from prolong.data.config import CorpusConfig, resolve_data_path
from prolong.io import read_json

TINY_CORPUS_PARAMS = paths.PARAMS_DIR / "tiny" / "corpus.yaml"


@dataclass
class TinyDataPaths:
    """Where the tiny-scale data lives."""

    tokenizer: Path                                       # load with AutoTokenizer.from_pretrained(str(tokenizer))
    stores: dict[str, Path] = field(default_factory=dict)  # source -> token store folder (TokenStore.open)
    corpus_dir: Path | None = None                         # the generated JSONL files
    seconds: dict[str, float] = field(default_factory=dict)  # time of each step built by this call


@contextmanager
def _lock(path: Path) -> Iterator[None]:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w") as f:
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def _corpus_dir(corpus: CorpusConfig, where: str) -> Path:
    dirs = {resolve_data_path(s.path).parent for s in corpus.sources.values()}
    bad = [n for n, s in corpus.sources.items() if resolve_data_path(s.path).name != f"{n}.jsonl" or s.kind != "jsonl"]
    if len(dirs) != 1 or bad:
        raise ConfigError(f"{where}: sources of a toy corpus must be jsonl files <one folder>/<source>.jsonl "
                          f"(offending: {bad[0] if bad else 'several folders'})")
    return dirs.pop()


def _tokenizer_sample(corpus_dir: Path, sources: list[str], budget: int) -> list[str]:
    """About `budget` characters, the same share from every source (documents in file order, cut to fit)."""
    from prolong.data.sources import iter_jsonl_records

    per_source, texts = budget // len(sources), []
    for name in sources:
        left = per_source
        for _, rec in iter_jsonl_records(corpus_dir / f"{name}.jsonl"):
            texts.append(rec["text"][:left])
            left -= len(texts[-1])
            if left <= 0:
                break
    return texts


def build_tiny_data(force: bool = False, params: str | Path = TINY_CORPUS_PARAMS,
                    workers: int | None = None) -> TinyDataPaths:
    """Build (or find) the tiny tokenizer and token stores; fast when already built. `force` rebuilds all."""
    corpus = CorpusConfig.from_yaml(params)
    if corpus.toy is None or corpus.train_tokenizer is None:
        raise ConfigError(f"{params}: the tiny corpus needs 'toy' and 'train_tokenizer' sections")
    corpus_dir = _corpus_dir(corpus, str(params))
    tok_dir = resolve_data_path(corpus.tokenizer)
    result = TinyDataPaths(tok_dir, {n: corpus.store_path(n) for n in corpus.sources}, corpus_dir)

    def complete() -> bool:
        manifest = corpus_dir / "manifest.json"
        return (not force and manifest.is_file() and read_json(manifest).get("config") == corpus.toy.to_dict()
                and (tok_dir / "tokenizer.json").is_file()
                and all((p / "store.json").is_file() for p in result.stores.values()))

    if complete():                                    # fast path: no lock, no heavy import
        return result
    with _lock(resolve_data_path(corpus.store_root).parent / ".build.lock"):
        if complete():                                # another process built it while we waited
            return result
        from prolong.data.token_store import build_corpus_stores
        from prolong.data.tokenizer import train_byte_bpe
        from prolong.data.toy_corpus import write_toy_corpus

        manifest = corpus_dir / "manifest.json"
        stale = force or not manifest.is_file() or read_json(manifest).get("config") != corpus.toy.to_dict()
        if stale:
            t0 = time.perf_counter()
            write_toy_corpus(corpus.toy, corpus_dir, sources=tuple(corpus.sources))
            result.seconds["corpus"] = time.perf_counter() - t0
        if stale or not (tok_dir / "tokenizer.json").is_file():
            t0 = time.perf_counter()
            shutil.rmtree(resolve_data_path(corpus.store_root), ignore_errors=True)   # stores of an old tokenizer
            texts = _tokenizer_sample(corpus_dir, list(corpus.sources), corpus.train_tokenizer.sample_chars)
            train_byte_bpe(texts, tok_dir, corpus.train_tokenizer.vocab_size)
            result.seconds["tokenizer"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        build_corpus_stores(corpus, workers=workers)
        result.seconds["stores"] = time.perf_counter() - t0
    return result
