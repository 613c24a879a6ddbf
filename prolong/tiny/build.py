"""`build_tiny()`: everything the tiny scale reads, built once by one explicit call (idempotent, fast when built).

Steps, each skipped when its output exists and matches its params (corpus: params/tiny/corpus.yaml):
    1. corpus        <data>/tiny/corpus/<source>.jsonl + manifest.json                   (prolong.tiny.corpus)
    2. tokenizer     <data>/tiny/tokenizer/  (Hugging Face format, chat template)       (prolong.data.tokenizer)
    3. token stores  <data>/tiny/stores/<source>/                                    (prolong.data.token_store)
    4. eval suite    <data>/helmet/  (HELMET's layout; the eval params' data_dir '')  (prolong.tiny.eval_suite)
    5. SFT files     <data>/tiny/sft/ instructions.jsonl, synthetic_long.jsonl     (prolong.tiny.instructions)
Nothing builds lazily: `prolong data build-tiny`, `prolong reproduce --scale tiny` and running a tiny experiment call
it; training on tiny data that is missing fails with `not_built` (which names the command).
A file lock makes concurrent callers (tests, notebooks) wait for one builder.
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
from prolong.config import ConfigError, read_yaml
from prolong.data.config import CorpusConfig, resolve_data_path
from prolong.data.sources import iter_jsonl_records
from prolong.data.store_build import build_corpus_stores
from prolong.data.token_store import store_intact
from prolong.data.tokenizer import train_byte_bpe
from prolong.io import atomic_write_json, read_json
from prolong.tiny.corpus import GENERATOR_VERSION, write_tiny_corpus
from prolong.tiny.eval_suite import write_tiny_suite
from prolong.tiny.instructions import write_instructions
from prolong.runs import params_fingerprint

TINY_CORPUS_PARAMS = paths.PARAMS_DIR / "tiny" / "corpus.yaml"
BUILD_COMMAND = "prolong data build-tiny"
SUITE_STAMP = "tiny_suite.json"  # in the eval suite's folder: the generator version that wrote it


def world_fingerprint(params: str | Path | None = None) -> str:
    """What every tiny run's data is a function of: the generators' version and the parsed corpus params (a comment
    edit is the same world). The tiny stages' and evaluations' run names include it (prolong.experiments.graph), so
    a changed generator or corpus parameter trains new runs instead of reusing runs made from the old data; it is
    known without building anything (a plan or a name pin needs no data)."""
    return params_fingerprint({"generator": GENERATOR_VERSION, "corpus": read_yaml(params or TINY_CORPUS_PARAMS)})[:16]


def tiny_root() -> Path:
    """<data>/tiny: the corpus, tokenizer, stores and SFT files of the tiny scale."""
    return paths.data_dir() / "tiny"


def eval_suite_dir() -> Path:
    """<data>/helmet: where the eval runner looks when the eval params' data_dir is '' (prolong.eval.runner)."""
    return paths.data_dir() / "helmet"


@dataclass
class TinyPaths:
    """Where the tiny-scale data lives."""

    corpus_dir: Path                                       # the generated JSONL files
    tokenizer: Path                                        # load with AutoTokenizer.from_pretrained(str(tokenizer))
    stores: dict[str, Path] = field(default_factory=dict)  # source -> token store folder (TokenStore.open)
    eval_suite: Path | None = None                         # the HELMET-format suite (write_tiny_suite)
    sft_dir: Path | None = None                            # instructions.jsonl, synthetic_long.jsonl
    seconds: dict[str, float] = field(default_factory=dict)  # time of each step built by this call


def not_built(path: str | Path) -> FileNotFoundError | None:
    """The error for a missing file of the tiny data (under <data>/tiny or <data>/helmet), naming the command that
    builds it; None when `path` exists or is not tiny data."""
    path = Path(path).resolve()
    if path.exists() or not any(path.is_relative_to(root) for root in (tiny_root(), eval_suite_dir())):
        return None
    return FileNotFoundError(f"{path}: the tiny data is not built; build it with `{BUILD_COMMAND}`")


def require_built(*paths_: str | Path) -> None:
    """Raise `not_built` for the first missing tiny-data path."""
    for p in paths_:
        if (err := not_built(p)) is not None:
            raise err


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
        raise ConfigError(f"{where}: sources of a tiny corpus must be jsonl files <one folder>/<source>.jsonl "
                          f"(offending: {bad[0] if bad else 'several folders'})")
    return dirs.pop()


def _tokenizer_sample(corpus_dir: Path, sources: list[str], budget: int) -> list[str]:
    """About `budget` characters, the same share from every source (documents in file order, cut to fit)."""
    per_source, texts = budget // len(sources), []
    for name in sources:
        left = per_source
        for _, rec in iter_jsonl_records(corpus_dir / f"{name}.jsonl"):
            texts.append(rec["text"][:left])
            left -= len(texts[-1])
            if left <= 0:
                break
    return texts


def build_corpus(corpus: CorpusConfig, force: bool, workers: int | None, result: TinyPaths) -> None:
    """Steps 1-3: corpus, tokenizer, token stores (the corpus params have a `tiny:` section)."""
    corpus_dir, tok_dir = result.corpus_dir, result.tokenizer
    manifest = corpus_dir / "manifest.json"

    def stale() -> bool:
        if force or not manifest.is_file():
            return True
        built = read_json(manifest)
        return (built.get("config") != corpus.tiny.to_dict() or built.get("generator") != GENERATOR_VERSION
                or set(built.get("sources", {})) != set(corpus.sources))  # a source added to or dropped from the params

    if (not stale() and (tok_dir / "tokenizer.json").is_file()
            and all(store_intact(p) for p in result.stores.values())):  # a damaged shard is rebuilt below
        return
    rebuilt = stale()
    if rebuilt:
        t0 = time.perf_counter()
        write_tiny_corpus(corpus.tiny, corpus_dir, sources=tuple(corpus.sources))
        result.seconds["corpus"] = time.perf_counter() - t0
    if rebuilt or not (tok_dir / "tokenizer.json").is_file():
        t0 = time.perf_counter()
        shutil.rmtree(resolve_data_path(corpus.store_root), ignore_errors=True)   # stores of an old tokenizer
        sampled = [n for n, src in corpus.sources.items() if src.tokenizer_sample]
        texts = _tokenizer_sample(corpus_dir, sampled, corpus.train_tokenizer.sample_chars)
        train_byte_bpe(texts, tok_dir, corpus.train_tokenizer.vocab_size)
        result.seconds["tokenizer"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    build_corpus_stores(corpus, workers=workers)
    result.seconds["stores"] = time.perf_counter() - t0


def build_eval_suite(force: bool, result: TinyPaths) -> None:
    """Step 4: the suite (deterministic, about a second), written when missing or made by another generator version."""
    stamp = result.eval_suite / SUITE_STAMP
    current = stamp.is_file() and read_json(stamp).get("generator") == GENERATOR_VERSION
    if force or not current or not (result.eval_suite / "ppl" / "pg19.jsonl").is_file():
        t0 = time.perf_counter()
        write_tiny_suite(result.eval_suite)
        atomic_write_json(stamp, {"generator": GENERATOR_VERSION})
        result.seconds["eval_suite"] = time.perf_counter() - t0


def build_instructions(force: bool, result: TinyPaths) -> None:
    """Step 5: the SFT files, rewritten when missing or made with another InstructionSpec."""
    t0 = time.perf_counter()
    if write_instructions(result.corpus_dir / "books.jsonl", result.sft_dir, force=force):
        result.seconds["sft"] = time.perf_counter() - t0


def build_tiny(force: bool = False, params: str | Path = TINY_CORPUS_PARAMS, workers: int | None = None) -> TinyPaths:
    """Build (or find) the whole tiny data (module doc); `force` rebuilds all. `params`: the corpus params file."""
    corpus = CorpusConfig.from_yaml(params)
    if corpus.tiny is None or corpus.train_tokenizer is None:
        raise ConfigError(f"{params}: the tiny corpus needs 'tiny' and 'train_tokenizer' sections")
    result = TinyPaths(_corpus_dir(corpus, str(params)), resolve_data_path(corpus.tokenizer),
                       {n: corpus.store_path(n) for n in corpus.sources}, eval_suite_dir(), tiny_root() / "sft")
    with _lock(resolve_data_path(corpus.store_root).parent / ".build.lock"):
        build_corpus(corpus, force, workers, result)
        build_eval_suite(force, result)
        build_instructions(force, result)
    return result
