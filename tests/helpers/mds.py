"""Writing MDS folders the way mosaicml-streaming's MDSWriter lays them out (index version 2, `format: mds`), so the
tests read what a download of ProLong's released data holds without the package:

    columns sorted by name; per shard: uint32 n | uint32 offsets[n + 1] (from the file start) | the shard config as
    JSON (sort_keys) | samples; a sample: uint32 sizes of the variable-size columns | the columns' bytes
    compression: the shard is written only as shard.NNNNN.mds.<ext> (zip_data), raw_data keeps the raw size

This is the encoder side, written separately from prolong.data.mds (the decoder), so a mistake in one is not
mirrored in the other.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Sequence

import numpy as np

_DTYPE_CODE = {"uint8": 8, "int8": 9, "uint16": 16, "int16": 17, "float16": 18, "uint32": 32, "int32": 33,
               "float32": 34, "uint64": 64, "int64": 65, "float64": 66}
_SCALAR = {"uint8", "uint16", "uint32", "uint64", "int8", "int16", "int32", "int64", "float16", "float32", "float64"}


def encoded_size(encoding: str) -> int | None:
    if encoding in _SCALAR:
        return np.dtype(encoding).itemsize
    if encoding == "int":
        return 8
    parts = encoding.split(":")
    if parts[0] == "ndarray" and len(parts) == 3:
        return int(np.prod([int(x) for x in parts[2].split(",")])) * np.dtype(parts[1]).itemsize
    return None


def encode(encoding: str, value: Any) -> bytes:
    if encoding in _SCALAR:
        return np.array(value, dtype=encoding).tobytes()
    if encoding == "int":
        return np.int64(value).tobytes()
    if encoding == "str":
        return value.encode("utf-8")
    if encoding == "bytes":
        return bytes(value)
    if encoding == "json":
        return json.dumps(value).encode("utf-8")
    parts = encoding.split(":")
    assert parts[0] == "ndarray", encoding
    arr = np.asarray(value)
    head = b""
    if len(parts) == 1:
        head += bytes([_DTYPE_CODE[arr.dtype.name]])
    else:
        assert arr.dtype.name == parts[1], (arr.dtype, encoding)
    if len(parts) < 3:
        shape = np.array(arr.shape, np.int64)
        k = next(k for k, t in enumerate((np.uint8, np.uint16, np.uint32, np.uint64)) if shape.max() <= np.iinfo(t).max)
        head += bytes([(len(shape) << 2) | k]) + shape.astype((np.uint8, np.uint16, np.uint32, np.uint64)[k]).tobytes()
    return head + arr.tobytes()


def _compress(compression: str, data: bytes) -> tuple[bytes, str]:
    family, _, level = compression.partition(":")
    if family == "zstd":
        import zstandard

        return zstandard.ZstdCompressor(level=int(level or 3)).compress(data), "zstd"
    if family == "gz":
        import gzip

        return gzip.compress(data, compresslevel=int(level or 9)), "gz"
    raise ValueError(compression)


def write_mds(folder: str | Path, columns: dict[str, str], samples: Sequence[dict[str, Any]],
              samples_per_shard: int = 4, compression: str | None = None) -> Path:
    """An MDS folder of `samples` with `columns` {name: encoding}, `samples_per_shard` per shard."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    names = sorted(columns)
    encodings = [columns[n] for n in names]
    sizes = [encoded_size(e) for e in encodings]
    config = {"column_encodings": encodings, "column_names": names, "column_sizes": sizes,
              "compression": compression, "format": "mds", "hashes": [], "size_limit": 1 << 26, "version": 2}
    config_data = json.dumps(config, sort_keys=True).encode("utf-8")
    shards = []
    for start in range(0, len(samples), samples_per_shard):
        encoded = []
        for sample in samples[start:start + samples_per_shard]:
            var, body = [], []
            for name, enc, size in zip(names, encodings, sizes):
                datum = encode(enc, sample[name])
                if size is None:
                    var.append(len(datum))
                else:
                    assert len(datum) == size
                body.append(datum)
            encoded.append(np.array(var, np.uint32).tobytes() + b"".join(body))
        n = np.uint32(len(encoded))
        offsets = np.array([0] + [len(e) for e in encoded]).cumsum().astype(np.uint32)
        offsets += 4 + len(offsets.tobytes()) + len(config_data)
        raw = n.tobytes() + offsets.tobytes() + config_data + b"".join(encoded)
        raw_name = f"shard.{len(shards):05}.mds"
        info = {"samples": int(n), "raw_data": {"basename": raw_name, "bytes": len(raw), "hashes": {}},
                "zip_data": None, **config}
        if compression:
            data, ext = _compress(compression, raw)
            info["zip_data"] = {"basename": f"{raw_name}.{ext}", "bytes": len(data), "hashes": {}}
            (folder / f"{raw_name}.{ext}").write_bytes(data)
        else:
            (folder / raw_name).write_bytes(raw)
        shards.append(info)
    with open(folder / "index.json", "w") as f:
        json.dump({"shards": shards, "version": 2}, f, sort_keys=True)
    return folder


# ProLong's released schema: a packed sequence, its document spans, and (SFT) the loss mask
PROLONG_COLUMNS = {"input_ids": "ndarray:uint32", "indices": "ndarray:uint32"}
PROLONG_SFT_COLUMNS = {**PROLONG_COLUMNS, "mask": "ndarray:uint8"}


def packed_samples(n: int, seq_len: int, vocab: int, seed: int = 0, with_mask: bool = False,
                   gap: bool = False) -> list[dict[str, Any]]:
    """`n` packed sequences of `seq_len` tokens: random documents (ids in [1, vocab)) with their [start, end) spans;
    with_mask: a 0/1 mask per token (the first half of each document 0: the "instruction"); gap: 3 tokens after the
    last document outside every span."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        total = seq_len - (3 if gap else 0)
        cuts = np.sort(rng.choice(np.arange(1, total), size=int(rng.integers(1, 4)), replace=False))
        bounds = np.concatenate([[0], cuts, [total]])
        spans = np.stack([bounds[:-1], bounds[1:]], axis=1).astype(np.uint32)
        sample = {"input_ids": rng.integers(1, vocab, size=seq_len).astype(np.uint32), "indices": spans}
        if with_mask:
            mask = np.zeros(seq_len, dtype=np.uint8)
            for a, b in spans.tolist():
                mask[(a + b) // 2:b] = 1
            sample["mask"] = mask
        out.append(sample)
    return out
