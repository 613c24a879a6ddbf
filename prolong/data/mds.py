"""Reading mosaicml-streaming MDS folders (the paper's released data) without mosaicml-streaming.

ProLong's released data (princeton-nlp/prolong-data-64K, prolong-data-512K, prolong-ultrachat-64K) is one MDS folder
per domain, each sample an already packed sequence:
    input_ids   the token ids of the whole sequence (uint32)
    indices     (n_docs, 2) [start, end) of each document inside the sequence (the document boundaries)
    mask        (SFT only) 1 where the token is a target (assistant tokens), 0 elsewhere

The format (mosaicml-streaming's MDSWriter, `format: mds`, index version 2), read here directly:
    index.json        {"version": 2, "shards": [shard info, ...]}; a shard info holds `samples`, `column_names`,
                      `column_encodings`, `column_sizes` (null = variable size), `compression` (null, "zstd",
                      "zstd:16", ...), `raw_data` {basename, bytes} and `zip_data` (null, or {basename, bytes} of the
                      compressed file, e.g. shard.00000.mds.zstd; only that file is downloaded then)
    shard file        uint32 n | uint32 offsets[n + 1] (byte offsets of the samples from the start of the file) |
                      the shard's config as JSON | samples
    sample            uint32 size of each variable-size column, in column order | the columns' bytes in column order
    encodings         scalars (uint8 ... float64, int = int64), str, bytes, json, str_int, str_float, and
                      ndarray[:dtype[:shape]] (a dynamic dtype is one byte, a dynamic shape one byte ndim << 2 | k
                      followed by ndim uint(8 * 2**k) sizes)
Compressed shards are decompressed in memory (one shard at a time per folder; the folder is never written to):
gz and bz2 by the standard library, zstd by the optional package `zstandard` (`pip install 'prolong[data]'`).

The mixture reader of an MDS domain is prolong.data.released.MDSReader.
"""

from __future__ import annotations

import bz2
import gzip
import importlib
import json
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from prolong.io import CorruptFileError

INDEX_NAME = "index.json"

_SCALARS = {name: np.dtype(name) for name in ("uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32",
                                               "int64", "float16", "float32", "float64")}
_NDARRAY_DTYPES = {8: "uint8", 9: "int8", 16: "uint16", 17: "int16", 18: "float16", 32: "uint32", 33: "int32",
                   34: "float32", 64: "uint64", 65: "int64", 66: "float64"}
_SHAPE_DTYPES = {0: np.uint8, 1: np.uint16, 2: np.uint32, 3: np.uint64}
_VARIABLE = {"bytes", "str", "json", "str_int", "str_float", "str_decimal"}
# compression family -> (module, how to decompress, package to install); zstd: a well-kept binding (indygreg)
_CODECS = {
    "gz": ("gzip", lambda m, b: gzip.decompress(b), "(standard library)"),
    "bz2": ("bz2", lambda m, b: bz2.decompress(b), "(standard library)"),
    "zstd": ("zstandard", lambda m, b: m.ZstdDecompressor().decompressobj().decompress(b),
             "zstandard (pip install 'prolong[data]')"),
    "br": ("brotli", lambda m, b: m.decompress(b), "brotli (pip install brotli)"),
    "snappy": ("snappy", lambda m, b: m.decompress(b), "python-snappy (pip install python-snappy)"),
}


class MDSError(CorruptFileError):
    """An MDS folder, shard or sample that cannot be read; the message names the file (and sample or key)."""


@dataclass(frozen=True)
class Column:
    name: str
    encoding: str
    size: int | None     # bytes of every value, None = variable (its size is in the sample head)


def _fixed_size(encoding: str) -> int | None:
    """Bytes of a fixed-size encoding, None for a variable one (as MDSWriter records it in column_sizes)."""
    if encoding in _SCALARS:
        return _SCALARS[encoding].itemsize
    if encoding == "int":
        return 8
    if encoding == "ndarray" or encoding.startswith("ndarray:"):
        parts = encoding.split(":")
        if len(parts) == 3:
            return int(np.prod([int(d) for d in parts[2].split(",")])) * np.dtype(parts[1]).itemsize
        return None
    return None


def decode(encoding: str, data: bytes | memoryview) -> Any:
    """One column value from its bytes (the encodings of the module docstring)."""
    if encoding in _SCALARS:
        return np.frombuffer(data, _SCALARS[encoding])[0]
    if encoding == "int":
        return int(np.frombuffer(data, np.int64)[0])
    if encoding == "bytes":
        return bytes(data)
    if encoding in ("str", "str_int", "str_float", "str_decimal", "json"):
        text = bytes(data).decode("utf-8")
        if encoding == "str":
            return text
        if encoding == "json":
            return json.loads(text)
        return int(text) if encoding == "str_int" else float(text)
    if encoding == "ndarray" or encoding.startswith("ndarray:"):
        parts = encoding.split(":")
        buf, i = memoryview(data), 0
        if len(parts) >= 2 and parts[1]:
            dtype = parts[1]
        else:
            dtype = _NDARRAY_DTYPES[buf[0]]
            i = 1
        if len(parts) == 3:
            shape = tuple(int(d) for d in parts[2].split(","))
        else:
            byte = buf[i]
            ndim, sdt = byte >> 2, _SHAPE_DTYPES[byte & 3]
            i += 1
            shape = tuple(int(x) for x in np.frombuffer(buf[i:i + ndim * np.dtype(sdt).itemsize], sdt))
            i += ndim * np.dtype(sdt).itemsize
        return np.frombuffer(buf[i:], dtype).reshape(shape)
    raise ValueError(f"MDS encoding {encoding!r} is not supported (supported: {', '.join(supported_encodings())})")


def supported_encodings() -> list[str]:
    return sorted([*_SCALARS, "int", "ndarray[:dtype[:shape]]", *_VARIABLE])


def _supported(encoding: str) -> bool:
    return encoding in _SCALARS or encoding in _VARIABLE or encoding == "int" or encoding == "ndarray" \
        or encoding.startswith("ndarray:")


def decompress(compression: str, data: bytes, where: str) -> bytes:
    """`data` decompressed with the MDS compression `compression` ('zstd', 'zstd:16', 'gz:9', ...)."""
    family = compression.split(":", 1)[0]
    if family not in _CODECS:
        raise MDSError(f"{where}: compression {compression!r} is not supported (supported: {', '.join(_CODECS)})")
    module, fn, package = _CODECS[family]
    try:
        mod = importlib.import_module(module)
    except ImportError:
        raise MDSError(f"{where}: {compression}-compressed shard: reading it needs the package {package}") from None
    return fn(mod, data)


class MDSShard:
    """One shard of an MDS folder: its columns and samples, read from the raw file (memory-mapped) or, when only the
    compressed file is there, from that file decompressed in memory."""

    def __init__(self, folder: Path, info: dict, number: int, index_path: Path):
        where = f"{index_path}: shards[{number}]"
        for key in ("samples", "column_names", "column_encodings", "column_sizes", "raw_data"):
            if key not in info:
                raise MDSError(f"{where}: missing key {key!r}")
        if info.get("format", "mds") != "mds":
            raise MDSError(f"{where}: format {info['format']!r} is not 'mds' (only MDS shards are read)")
        names, encs, sizes = info["column_names"], info["column_encodings"], info["column_sizes"]
        if not len(names) == len(encs) == len(sizes):
            raise MDSError(f"{where}: column_names, column_encodings and column_sizes differ in length")
        for name, enc in zip(names, encs):
            if not _supported(enc):
                raise MDSError(f"{where}: column {name!r} has encoding {enc!r}, which is not supported "
                               f"(supported: {', '.join(supported_encodings())})")
        self.columns = [Column(n, e, s) for n, e, s in zip(names, encs, sizes)]
        self.folder, self.number, self.n_samples = folder, number, int(info["samples"])
        self.raw = info["raw_data"]
        self.zip = info.get("zip_data")
        self.compression = info.get("compression")
        self._data: Any = None

    @property
    def raw_path(self) -> Path:
        return self.folder / self.raw["basename"]

    @property
    def zip_path(self) -> Path | None:
        return self.folder / self.zip["basename"] if self.zip else None

    def _raw_ok(self) -> bool:
        p = self.raw_path
        return p.is_file() and ("bytes" not in self.raw or p.stat().st_size == int(self.raw["bytes"]))

    def check_present(self) -> None:
        """That the shard's data is there (the raw file of its recorded size, or the compressed file)."""
        if self._raw_ok():
            return
        if self.zip_path is not None and self.zip_path.is_file():
            return
        if self.raw_path.is_file():
            raise MDSError(f"{self.raw_path}: {self.raw_path.stat().st_size} bytes, the index records "
                           f"{self.raw['bytes']} (a partly written or damaged shard; delete it"
                           + (f" to read {self.zip_path.name} instead)" if self.zip else ")"))
        names = self.raw_path.name + (f" or {self.zip_path.name}" if self.zip_path else "")
        raise FileNotFoundError(f"{self.folder}: shard {self.number}: neither file is there ({names}); "
                                f"was the download complete?")

    def load(self) -> None:
        if self._data is not None:
            return
        self.check_present()
        if self._raw_ok():
            self._data = np.memmap(self.raw_path, dtype=np.uint8, mode="r")
        else:
            zp = self.zip_path
            raw = decompress(self.compression or zp.suffix.lstrip("."), zp.read_bytes(), str(zp))
            if "bytes" in self.raw and len(raw) != int(self.raw["bytes"]):
                raise MDSError(f"{zp}: decompressed to {len(raw)} bytes, the index records {self.raw['bytes']}")
            self._data = np.frombuffer(raw, dtype=np.uint8)
        n = int(np.frombuffer(self._data[:4], np.uint32)[0])
        where = self.zip_path if not self._raw_ok() else self.raw_path
        if n != self.n_samples:
            self._data = None
            raise MDSError(f"{where}: the shard holds {n} samples, index.json says {self.n_samples}")
        self._offsets = np.frombuffer(self._data[4:4 + 4 * (n + 1)], np.uint32).astype(np.int64)
        if self._offsets[-1] > len(self._data) or (np.diff(self._offsets) < 0).any():
            self._data = None
            raise MDSError(f"{where}: sample offsets run past the end of the file (damaged shard)")

    def unload(self) -> None:
        self._data = None

    def sample(self, j: int) -> dict[str, Any]:
        """Sample j of the shard as {column: value}."""
        self.load()
        if not 0 <= j < self.n_samples:
            raise IndexError(f"{self.raw_path}: sample {j} outside [0, {self.n_samples})")
        buf = memoryview(self._data[self._offsets[j]:self._offsets[j + 1]])
        n_var = sum(c.size is None for c in self.columns)
        var_sizes = iter(np.frombuffer(buf[:4 * n_var], np.uint32).tolist())
        out, pos = {}, 4 * n_var
        for c in self.columns:
            size = c.size if c.size is not None else next(var_sizes)
            if pos + size > len(buf):
                raise MDSError(f"{self.raw_path}: sample {j}: column {c.name!r} runs past the sample's end")
            out[c.name] = decode(c.encoding, buf[pos:pos + size])
            pos += size
        return out


class MDSFolder:
    """An MDS folder (index.json and its shards). `sample(shard, j)` reads one sample; at most `cache` shards are
    held in memory at once (a decompressed zstd shard is the size of its raw file)."""

    def __init__(self, path: str | Path, cache: int = 1):
        self.path = Path(path)
        index = self.path / INDEX_NAME
        if not index.is_file():
            what = "folder not found" if not self.path.exists() else f"no {INDEX_NAME} (not an MDS folder)"
            raise FileNotFoundError(f"{index}: {what}")
        try:
            obj = json.loads(index.read_text())
        except json.JSONDecodeError as err:
            raise MDSError(f"{index}: not valid JSON ({err.msg})") from err
        if not isinstance(obj, dict) or "shards" not in obj:
            raise MDSError(f"{index}: missing key 'shards'")
        if obj.get("version") != 2:
            raise MDSError(f"{index}: index version {obj.get('version')!r}, only version 2 is read")
        self.shards = [MDSShard(self.path, s, i, index) for i, s in enumerate(obj["shards"])]
        if not self.shards:
            raise MDSError(f"{index}: no shards")
        self.columns = {c.name: c.encoding for c in self.shards[0].columns}
        self.n_samples = sum(s.n_samples for s in self.shards)
        self._cache: OrderedDict[int, MDSShard] = OrderedDict()
        self._cache_size = max(1, cache)

    def check_present(self) -> None:
        for s in self.shards:
            s.check_present()

    def sample(self, shard: int, j: int) -> dict[str, Any]:
        s = self.shards[shard]
        if shard in self._cache:
            self._cache.move_to_end(shard)
        else:
            self._cache[shard] = s
            while len(self._cache) > self._cache_size:
                _, old = self._cache.popitem(last=False)
                old.unload()
        return s.sample(j)

    def __len__(self) -> int:
        return self.n_samples

    def __iter__(self):
        for i, s in enumerate(self.shards):
            for j in range(s.n_samples):
                yield self.sample(i, j)
