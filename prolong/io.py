"""Crash-safe file writes: a reader never sees a half-written file as complete.

Whole files are written to a temporary sibling, flushed, fsync'ed and renamed over the target (rename is atomic on
POSIX). Append-only logs (JSONL) write one full line per call; a reader skips a torn last line of a killed writer.
"""

from __future__ import annotations

import json
import os
import tempfile
import threading
from pathlib import Path
from typing import Any, Callable, Iterator


class CorruptFileError(ValueError):
    """A data or results file that cannot be parsed; the message names the file (and line)."""


_UMASK_LOCK = threading.Lock()


def _umask() -> int:
    """The process umask. Python can only read it by setting it, so it is set to itself at once under a lock (no
    file is read: the tiny world's builders check that they open nothing but their own outputs)."""
    with _UMASK_LOCK:
        mask = os.umask(0o077)
        os.umask(mask)
    return mask


def atomic_write_bytes(path: str | Path, data: bytes) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file 0600; give it the mode a plain open() would (0666 minus the umask), so a run store
        # on a shared cluster is readable by whoever the umask lets read it
        os.fchmod(fd, 0o666 & ~_umask())
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def atomic_write_text(path: str | Path, text: str) -> None:
    atomic_write_bytes(path, text.encode())


def atomic_write_json(path: str | Path, obj: Any) -> None:
    atomic_write_text(path, json.dumps(obj, indent=2, sort_keys=False, default=_json_default) + "\n")


def _json_default(obj: Any) -> Any:
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "item"):  # numpy / torch scalars
        return obj.item()
    if hasattr(obj, "tolist"):
        return obj.tolist()
    raise TypeError(f"not JSON serialisable: {type(obj).__name__}")


def read_json(path: str | Path) -> Any:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    try:
        return json.loads(path.read_text())
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise CorruptFileError(f"{path}: corrupt JSON ({err})") from err


def append_jsonl(path: str | Path, record: dict[str, Any]) -> None:
    """Append one record as one line; the line is written with a single write call and fsync'ed."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    line = json.dumps(record, default=_json_default) + "\n"
    with open(path, "a") as f:
        f.write(line)
        f.flush()
        os.fsync(f.fileno())


def iter_jsonl(path: str | Path, allow_torn_tail: bool = True,
               on_error: Callable[[CorruptFileError], None] | None = None) -> Iterator[dict[str, Any]]:
    """Yield records of a JSONL file. A bad line is a `CorruptFileError` naming file and line, except an
    unterminated last line (a writer killed mid-append), which is skipped when `allow_torn_tail`. With `on_error`,
    a bad line is handed to it (which may raise) and reading goes on."""
    for _, record in iter_jsonl_numbered(path, allow_torn_tail, on_error):
        yield record


def iter_jsonl_numbered(path: str | Path, allow_torn_tail: bool = True,
                        on_error: Callable[[CorruptFileError], None] | None = None
                        ) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, record) of a JSONL file; see `iter_jsonl`."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: file not found")
    with open(path, "rb") as f:
        lines = f.read().split(b"\n")
    torn = lines[-1]  # after the last newline: empty, or an unterminated line of a killed writer
    lines = [line + b"\n" for line in lines[:-1]] + ([torn] if torn else [])
    for lineno, raw in enumerate(lines, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as err:
            _bad(CorruptFileError(f"{path}:{lineno}: not valid UTF-8 ({err.reason} at byte {err.start})"), on_error)
            continue
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as err:
            if allow_torn_tail and lineno == len(lines) and not line.endswith("\n"):
                return
            _bad(CorruptFileError(f"{path}:{lineno}: corrupt JSON line ({err})"), on_error)
            continue
        if not isinstance(record, dict):
            _bad(CorruptFileError(f"{path}:{lineno}: expected a JSON object, got {type(record).__name__}"), on_error)
            continue
        yield lineno, record


def _bad(err: CorruptFileError, on_error: Callable[[CorruptFileError], None] | None) -> None:
    if on_error is None:
        raise err
    on_error(err)
