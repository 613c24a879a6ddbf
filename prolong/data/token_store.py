"""The token store: a source tokenized once into memory-mapped shards, with document offsets.

Layout of a store folder:
    build.json                 what is being built (tokenizer identity, source params, the source files' size and
                               mtime); written first
    shard_00000.tokens         raw np.uint32 token ids of all kept documents of the shard, concatenated (no BOS/EOS)
    shard_00000.offsets.npy    np.int64, shape (n_docs + 1,): document j is tokens[offsets[j]:offsets[j+1]]
    shard_00000.done.json      completion marker, written last (atomically) for the shard: its counts, the size and
                               sha256 of its two files, and the sha256 of the documents it was made from
    store.json                 written when every shard is done: the store is complete

A shard is a run of consecutive documents of the source, cut every `shard_chars` characters, so the plan is the same
on every run; a killed build resumes by skipping the shards that have a completion marker. Resuming after the source
changed would mix old and new documents, so it is refused (the files' size or mtime, or the documents read for a
finished shard, differ from the build record). Shards are tokenized in parallel by worker processes. Reading a store
keeps only the memory maps open: memory does not grow with its size.

Opening a store checks every shard file's size against its record (one stat each, before anything is memory-mapped)
and, with `verify=True` (`prolong data verify`), its checksum; a damaged shard is a `DamagedStoreError` naming the
file, and the next build rebuilds just that shard. Building a store is prolong.data.store_build.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from prolong.data.tokenizer import TokenizerIdentity, TokenizerMismatchError
from prolong.integrity import verify_files
from prolong.io import CorruptFileError, read_json

TOKEN_DTYPE = np.uint32
FORMAT_VERSION = 1


def _shard_name(i: int) -> str:
    return f"shard_{i:05d}"


class DamagedStoreError(CorruptFileError):
    """A shard file of a complete store that is missing, of another size or (verified) of other content than when
    it was written. `.shards` names the damaged shards; rebuilding the store (the same build command) redoes them."""

    def __init__(self, message: str, shards: list[str]):
        super().__init__(message)
        self.shards = shards



def shard_problems(path: Path, shard: dict, checksums: bool = False) -> list[str]:
    """What is wrong with one shard of a store (empty when it is intact), each naming the file."""
    name = shard["name"]
    records = shard.get("files")
    if records is None:  # a store written before the records: the tokens file must hold n_tokens tokens
        records = {f"{name}.tokens": {"size": int(shard["n_tokens"]) * np.dtype(TOKEN_DTYPE).itemsize},
                   f"{name}.offsets.npy": None}
        problems = [p for p in verify_files(path, {k: v for k, v in records.items() if v}, checksums=False)]
        if not (path / f"{name}.offsets.npy").is_file():
            problems.append(f"{path / f'{name}.offsets.npy'}: missing")
        return problems
    return verify_files(path, records, checksums=checksums)


def damaged_shards(path: str | Path, checksums: bool = False) -> dict[str, list[str]]:
    """{shard name: problems} of a complete store (empty when intact)."""
    path = Path(path)
    meta = read_json(path / "store.json")
    out = {}
    for shard in meta["shards"]:
        problems = shard_problems(path, shard, checksums)
        if problems:
            out[shard["name"]] = problems
    return out

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
    def open(cls, path: str | Path, expect: TokenizerIdentity | None = None, verify: bool = False) -> "TokenStore":
        """Open a complete store; `expect` (the tokenizer in use) must match the one the store was built with. Every
        shard file's size is checked (and with `verify` its checksum): a damaged one is a `DamagedStoreError`."""
        path = Path(path)
        meta_path = path / "store.json"
        if not meta_path.is_file():
            hint = " (build incomplete: rerun the tokenization to resume it)" if (path / "build.json").exists() else ""
            raise FileNotFoundError(f"{meta_path}: token store not found{hint}")
        meta = read_json(meta_path)
        store_tok = TokenizerIdentity.from_dict(meta["tokenizer"])
        if expect is not None:
            check_same_tokenizer(store_tok, expect, str(path))
        damaged = {s["name"]: p for s in meta["shards"] if (p := shard_problems(path, s, verify))}
        if damaged:
            first = next(iter(damaged.values()))[0]
            raise DamagedStoreError(f"{first}" + (f" (and {len(damaged) - 1} more damaged shards)" if len(damaged) > 1
                                                   else "") + "; run the build of this store again to rebuild "
                                    f"{'it' if len(damaged) == 1 else 'them'}", list(damaged))
        shards = []
        for s in meta["shards"]:
            offsets_path = path / f"{s['name']}.offsets.npy"
            try:
                offsets = np.load(offsets_path, mmap_mode="r")
            except (ValueError, OSError) as err:
                raise DamagedStoreError(f"{offsets_path}: not a readable offsets array ({err}); run the build of "
                                        "this store again to rebuild it", [s["name"]]) from err
            tok_path = path / f"{s['name']}.tokens"
            n = int(offsets[-1]) if len(offsets) else 0
            if n * np.dtype(TOKEN_DTYPE).itemsize != tok_path.stat().st_size:
                raise DamagedStoreError(f"{tok_path}: {tok_path.stat().st_size} bytes, its offsets say {n} tokens; "
                                        "run the build of this store again to rebuild it", [s["name"]])
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


def store_intact(path: str | Path) -> bool:
    """Whether `path` holds a complete store whose shard files all have their recorded sizes (cheap: stats only)."""
    path = Path(path)
    try:
        return (path / "store.json").is_file() and not damaged_shards(path)
    except (CorruptFileError, KeyError, TypeError):
        return False
