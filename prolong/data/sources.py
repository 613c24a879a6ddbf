"""Reading raw documents from the places the paper's data lives.

`iter_documents(source)` yields each document of a source in a fixed order (sorted files, file order), as `str`, or
as a token array `np.ndarray[uint32]` for already-tokenized sources (the paper's released MDS shards). The order is
part of the token store's identity: resuming a tokenization relies on it.

Code repos: all files of one repository form one document; each file is preceded by a path header (`REPO_HEADER`),
so a model can learn cross-file dependencies (paper, "Long data").
"""

from __future__ import annotations

import glob as globlib
import gzip
import json
from pathlib import Path
from typing import Any, Iterable, Iterator

import numpy as np

from prolong.data.config import SourceConfig, resolve_data_path
from prolong.io import CorruptFileError

Document = "str | np.ndarray"
REPO_HEADER = "\n\n# ---- {path} ----\n"   # written before each file of a repo document


class SourceError(ValueError):
    """A source that cannot be read (missing, empty, wrong field); the message names the file and key/line."""


def repo_document(files: Iterable[tuple[str, str]], max_bytes: int = 0) -> str:
    """Concatenate (path, text) pairs of one repository with path headers; stop after `max_bytes` (0: no cap)."""
    parts, size = [], 0
    for path, text in files:
        piece = REPO_HEADER.format(path=path) + text
        if max_bytes and size + len(piece) > max_bytes and parts:
            break
        parts.append(piece)
        size += len(piece)
    return "".join(parts).lstrip("\n")


def _files(src: SourceConfig, default_glob: str) -> list[Path]:
    root = resolve_data_path(src.path)
    if root.is_file():
        return [root]
    if root.is_dir():
        files = sorted(p for p in root.glob(src.glob or default_glob) if p.is_file())
    else:
        files = sorted(Path(p) for p in globlib.glob(str(root), recursive=True) if Path(p).is_file())
    if not files:
        what = "folder has no files matching " + repr(src.glob or default_glob) if root.is_dir() else "not found"
        raise SourceError(f"{root}: source {src.kind} {what}")
    return files


def _open_binary(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def iter_jsonl_records(path: Path) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) of a JSONL file, streamed; a corrupt line is a `CorruptFileError` naming file:line."""
    with _open_binary(path) as f:
        for lineno, raw in enumerate(f, start=1):
            try:
                line = raw.decode("utf-8")
            except UnicodeDecodeError as err:  # named here: the text decoder's error names no file or line
                raise CorruptFileError(f"{path}:{lineno}: not valid UTF-8 (byte 0x{raw[err.start]:02x} at column "
                                       f"{err.start + 1}); save the file as UTF-8") from None
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except json.JSONDecodeError as err:
                raise CorruptFileError(f"{path}:{lineno}: corrupt JSON line ({err.msg})") from err
            if not isinstance(record, dict):
                raise CorruptFileError(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}")
            yield lineno, record


def _field(record: dict[str, Any], key: str, where: str) -> str:
    if key not in record:
        raise SourceError(f"{where}: record has no field {key!r} (fields: {', '.join(sorted(record))})")
    value = record[key]
    if not isinstance(value, str):
        raise SourceError(f"{where}: field {key!r} is {type(value).__name__}, expected text")
    return value


def _records(src: SourceConfig) -> Iterator[tuple[str, dict[str, Any]]]:
    """(where, record) for the record-shaped kinds (jsonl, parquet, hf_disk)."""
    if src.kind == "jsonl":
        for path in _files(src, "*.jsonl*"):
            for lineno, rec in iter_jsonl_records(path):
                yield f"{path}:{lineno}", rec
    elif src.kind == "parquet":
        import pyarrow.parquet as pq

        columns = [src.text_field] + ([src.repo_field, src.path_field] if src.repo_field else [])
        for path in _files(src, "*.parquet"):
            pf = pq.ParquetFile(path)
            missing = [c for c in columns if c not in pf.schema_arrow.names]
            if missing:
                raise SourceError(f"{path}: parquet file has no column {missing[0]!r} "
                                  f"(columns: {', '.join(pf.schema_arrow.names)})")
            row = 0
            for batch in pf.iter_batches(columns=columns, batch_size=1024):
                for rec in batch.to_pylist():
                    yield f"{path}: row {row}", rec
                    row += 1
    elif src.kind == "hf_disk":
        import datasets

        root = resolve_data_path(src.path)
        if not root.exists():
            raise SourceError(f"{root}: source hf_disk not found")
        ds = datasets.load_from_disk(str(root))
        if isinstance(ds, datasets.DatasetDict):
            if src.split not in ds:
                raise SourceError(f"{root}: split {src.split!r} not in the saved DatasetDict (splits: {list(ds)})")
            ds = ds[src.split]
        if src.text_field not in ds.column_names:
            raise SourceError(f"{root}: dataset has no column {src.text_field!r} (columns: {ds.column_names})")
        for i, rec in enumerate(ds):
            yield f"{root}: row {i}", rec
    else:
        raise AssertionError(src.kind)


def _group_repos(src: SourceConfig, records: Iterator[tuple[str, dict[str, Any]]]) -> Iterator[str]:
    """Consecutive records with the same `repo_field` -> one repo document with path headers."""
    current, files = None, []
    for where, rec in records:
        repo = rec.get(src.repo_field)
        if repo is None:
            raise SourceError(f"{where}: record has no field {src.repo_field!r} (repo_field)")
        if repo != current and files:
            yield repo_document(files, src.max_repo_bytes)
            files = []
        current = repo
        path = rec.get(src.path_field) or "?"
        files.append((f"{repo}/{path}", _field(rec, src.text_field, where)))
    if files:
        yield repo_document(files, src.max_repo_bytes)


def _code_repo_dirs(src: SourceConfig) -> Iterator[str]:
    """Each subfolder of `path` is one repository; its files with `extensions`, sorted by path, form one document."""
    root = resolve_data_path(src.path)
    if not root.is_dir():
        raise SourceError(f"{root}: source code_repos: folder not found")
    exts = tuple(src.extensions)
    for repo in sorted(p for p in root.iterdir() if p.is_dir()):
        paths = sorted(p for p in repo.rglob(src.glob or "*") if p.is_file() and p.name.endswith(exts))
        files = ((f"{repo.name}/{p.relative_to(repo)}", p.read_text(encoding="utf-8", errors="replace"))
                 for p in paths)
        doc = repo_document(files, src.max_repo_bytes)
        if doc:
            yield doc


def _mds_documents(src: SourceConfig) -> Iterator[np.ndarray]:
    """The documents inside the packed MDS samples of a folder (prolong.data.mds), each `input_ids[start:end]` of its
    `indices`. Training needs no such pass (a mixture domain can be the MDS folder itself); this is for statistics."""
    from prolong.data.mds import MDSFolder

    root = resolve_data_path(src.path)
    try:
        folder = MDSFolder(root)
    except FileNotFoundError as err:
        raise SourceError(str(err)) from None
    for i, sample in enumerate(folder):
        if "input_ids" not in sample:
            raise SourceError(f"{root}: sample {i} has no 'input_ids' column")
        ids = np.asarray(sample["input_ids"], dtype=np.uint32)
        indices = np.asarray(sample.get("indices", [[0, len(ids)]]), dtype=np.int64).reshape(-1, 2)
        for start, end in indices:
            yield ids[start:end]


def source_fingerprint(src: SourceConfig) -> list[dict[str, Any]]:
    """Size and mtime of every file a source reads (a file, the files under a folder, or a glob's matches), for the
    token store's build record: a resumed build refuses a source that changed."""
    root = resolve_data_path(src.path)
    if root.is_file():
        files = [root]
    elif root.is_dir():
        files = sorted(p for p in (root.glob(src.glob) if src.glob else root.rglob("*")) if p.is_file())
    else:
        files = sorted(Path(p) for p in globlib.glob(str(root), recursive=True) if Path(p).is_file())
    out = []
    for p in files:
        st = p.stat()
        out.append({"path": str(p), "size": st.st_size, "mtime_ns": st.st_mtime_ns})
    return out


def iter_documents(src: SourceConfig) -> Iterator["str | np.ndarray"]:
    """Every document of a source, in a fixed order (text, or token ids for MDS)."""
    if src.kind == "text_dir":
        for path in _files(src, "**/*.txt"):
            yield path.read_text(encoding="utf-8", errors="replace")
    elif src.kind == "code_repos":
        yield from _code_repo_dirs(src)
    elif src.kind == "mds":
        yield from _mds_documents(src)
    elif src.repo_field:
        yield from _group_repos(src, _records(src))
    else:
        for where, rec in _records(src):
            yield _field(rec, src.text_field, where)
