"""File integrity: sizes and checksums recorded when a shard or checkpoint is completed, verified when it is opened.

A record is `{"size": bytes, "sha256": hex}` per file, relative to a folder. Opening checks sizes always (one `stat`
per file: a truncated copy or a killed `cp` is caught before anything is memory-mapped); checksums are read on
demand and on resume, where reading every byte once costs little next to the work that would be built on a bad file.

Safetensors files carry their own length (an 8-byte header size, a JSON header with every tensor's byte range), so
`check_safetensors` finds a truncated model even where no record was written (a model saved by another program).
"""

from __future__ import annotations

import hashlib
import json
import struct
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterable

from prolong.io import CorruptFileError

_CHUNK = 8 << 20  # bytes read at a time while hashing


def sha256_file(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            h.update(chunk)
    return h.hexdigest()


def record_files(root: str | Path, names: Iterable[str] | None = None, checksums: bool = True) -> dict[str, dict]:
    """{relative path: {"size", "sha256"}} of `names` under `root` (default: every file below it, recursively).
    Files are hashed on a few threads (hashlib releases the GIL), so a sharded checkpoint hashes in parallel."""
    root = Path(root)
    files = sorted(names) if names is not None else sorted(
        str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
    with ThreadPoolExecutor(max_workers=4) as pool:
        digests = list(pool.map(lambda n: sha256_file(root / n) if checksums else None, files))
    out = {}
    for name, digest in zip(files, digests):
        out[name] = {"size": (root / name).stat().st_size}
        if digest is not None:
            out[name]["sha256"] = digest
    return out


def verify_files(root: str | Path, records: dict[str, dict], checksums: bool = False) -> list[str]:
    """Problems of the recorded files under `root` (empty when all verify), each naming the file: missing, another
    size, or (with `checksums`) another content."""
    root = Path(root)
    problems = []
    for name, rec in records.items():
        path = root / name
        if not path.is_file():
            problems.append(f"{path}: missing")
            continue
        size = path.stat().st_size
        if size != rec["size"]:
            problems.append(f"{path}: {size} bytes, {rec['size']} were written (truncated or replaced)")
        elif checksums and rec.get("sha256") and sha256_file(path) != rec["sha256"]:
            problems.append(f"{path}: checksum differs from the one recorded when it was written (damaged)")
    return problems


def check_safetensors(path: str | Path) -> None:
    """A `CorruptFileError` naming the file when a .safetensors file (or any in a folder) is shorter or longer than
    its own header says."""
    path = Path(path)
    files = sorted(path.glob("*.safetensors")) if path.is_dir() else [path] if path.is_file() else []
    for f in files:  # a missing path is left to the loader, which names it
        size = f.stat().st_size
        try:
            with open(f, "rb") as fh:
                (n,) = struct.unpack("<Q", fh.read(8))
                if n > size - 8:
                    raise ValueError(f"header of {n} bytes")
                header = json.loads(fh.read(n))
            end = max((t["data_offsets"][1] for k, t in header.items() if k != "__metadata__"), default=0)
        except (struct.error, ValueError, KeyError, TypeError) as err:
            raise CorruptFileError(f"{f}: not a complete safetensors file ({err}); copy or save it again") from err
        if size != 8 + n + end:
            raise CorruptFileError(f"{f}: {size} bytes, its header describes {8 + n + end} (truncated or damaged); "
                                   "copy or save it again")
