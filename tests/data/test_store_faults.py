"""Damaged token stores and changed sources: a truncated or altered shard is named (never `mmap length is greater
than file size`), the next build rebuilds only that shard, and a resumed build refuses a source that changed."""

import argparse
import json
import os

import numpy as np
import pytest
import yaml

from prolong.data import store_build as ts
from prolong.data.config import SourceConfig
from prolong.data.store_build import SourceChangedError
from prolong.data.token_store import DamagedStoreError, TokenStore
from prolong.io import CorruptFileError

def _build(src, out, tok, **kw):
    return ts.build_token_store(src, out, tok, shard_chars=700, workers=0, **kw)


def _docs(store):
    return [d.tolist() for d in store.iter_docs()]


def _truncate(path):
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def test_truncated_shard_is_named_and_rebuilt_alone(corpus, tmp_path, tiny_tokenizer, monkeypatch, capsys):
    clean = _docs(_build(corpus, tmp_path / "clean", tiny_tokenizer))
    store = _build(corpus, tmp_path / "store", tiny_tokenizer)
    meta = json.loads((tmp_path / "store" / "store.json").read_text())
    assert all(set(s["files"]) == {f"{s['name']}.tokens", f"{s['name']}.offsets.npy"} for s in meta["shards"])
    shard = tmp_path / "store" / "shard_00002.tokens"
    _truncate(shard)
    with pytest.raises(DamagedStoreError, match=rf"{shard}: \d+ bytes, \d+ were written .*build of this store again"):
        TokenStore.open(tmp_path / "store")
    real, redone = ts._tokenize_shard, []
    monkeypatch.setattr(ts, "_tokenize_shard", lambda *a: (redone.append(a[1]), real(*a))[1])
    rebuilt = _build(corpus, tmp_path / "store", tiny_tokenizer)
    assert redone == [2] and _docs(rebuilt) == clean == _docs(store.open(tmp_path / "store"))
    assert "store store: " in capsys.readouterr().err


def test_same_size_damage_is_found_by_verify(corpus, tmp_path, tiny_tokenizer):
    _build(corpus, tmp_path / "store", tiny_tokenizer)
    shard = tmp_path / "store" / "shard_00001.tokens"
    data = bytearray(shard.read_bytes())
    data[5] ^= 0xFF
    shard.write_bytes(bytes(data))
    TokenStore.open(tmp_path / "store")  # sizes only: opens
    with pytest.raises(DamagedStoreError, match=rf"{shard}: checksum differs"):
        TokenStore.open(tmp_path / "store", verify=True)
    _build(corpus, tmp_path / "store", tiny_tokenizer, verify=True)  # a verifying build rebuilds it
    TokenStore.open(tmp_path / "store", verify=True)


def test_offsets_cut_short_and_stores_of_the_old_format_are_named(corpus, tmp_path, tiny_tokenizer):
    _build(corpus, tmp_path / "store", tiny_tokenizer)
    meta_path = tmp_path / "store" / "store.json"
    meta = json.loads(meta_path.read_text())
    for s in meta["shards"]:
        del s["files"]  # as written before the records existed: the counts still catch a cut file
    meta_path.write_text(json.dumps(meta))
    TokenStore.open(tmp_path / "store")
    _truncate(tmp_path / "store" / "shard_00000.tokens")
    with pytest.raises(DamagedStoreError, match=r"shard_00000\.tokens: \d+ bytes, \d+ were written"):
        TokenStore.open(tmp_path / "store")


def test_data_stats_and_verify_name_the_damaged_file(corpus, tmp_path, tiny_tokenizer, capsys):
    from prolong.data import cli

    store_root = tmp_path / "stores"
    params = tmp_path / "corpus.yaml"
    params.write_text(yaml.safe_dump({"tokenizer": tiny_tokenizer, "store_root": str(store_root), "shard_chars": 700,
                                      "workers": 0, "sources": {"docs": {"kind": "jsonl", "path": corpus.path}}}))
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    assert cli.main(parser.parse_args(["tokenize", "--params", str(params)])) == 0
    assert cli.main(parser.parse_args(["verify", "--params", str(params)])) == 0
    shard = store_root / "docs" / "shard_00003.tokens"
    _truncate(shard)
    capsys.readouterr()
    assert cli.main(parser.parse_args(["stats", "--params", str(params)])) == 2
    err = capsys.readouterr().err
    assert err.startswith(f"error: {shard}: ") and "mmap" not in err
    assert cli.main(parser.parse_args(["verify", "--params", str(params)])) == 2
    assert f"error: {shard}: " in capsys.readouterr().err
    assert cli.main(parser.parse_args(["tokenize", "--params", str(params)])) == 0  # rebuilds the shard
    assert cli.main(parser.parse_args(["verify", "--params", str(params)])) == 0


def test_training_stream_on_a_damaged_store_names_the_file(make_store, tmp_path):
    from prolong.data.mixing import MixtureStream

    path = make_store("books", [np.arange(50, dtype=np.uint32) for _ in range(30)], docs_per_shard=10)
    _truncate(path / "shard_00001.tokens")
    (tmp_path / "mix.yaml").write_text(yaml.safe_dump({"domains": {"books": {"store": str(path)}},
                                                       "mixture": ["books@1.0"]}))
    with pytest.raises(CorruptFileError, match=r"books/shard_00001\.tokens: \d+ bytes"):
        MixtureStream.from_yaml(tmp_path / "mix.yaml", seq_len=64)


def _killed_build(corpus, out, tok, monkeypatch, at=3):
    real = ts._tokenize_shard

    def dies(out_dir, index, docs, min_tokens):
        if index == at:
            raise KeyboardInterrupt("killed")
        return real(out_dir, index, docs, min_tokens)

    monkeypatch.setattr(ts, "_tokenize_shard", dies)
    with pytest.raises(KeyboardInterrupt):
        _build(corpus, out, tok)
    monkeypatch.setattr(ts, "_tokenize_shard", real)


def test_resuming_after_the_source_changed_is_refused(corpus, tmp_path, tiny_tokenizer, monkeypatch):
    _killed_build(corpus, tmp_path / "store", tiny_tokenizer, monkeypatch)
    build = json.loads((tmp_path / "store" / "build.json").read_text())
    assert build["source_files"][0]["path"] == corpus.path and build["source_files"][0]["size"] > 0
    src = tmp_path / "docs.jsonl"
    stat = src.stat()
    src.write_text(src.read_text().replace("Document 0:", "Document 9:"))  # same size, new content and mtime
    with pytest.raises(SourceChangedError, match=rf"source file {src} changed \(size \d+ -> \d+, mtime"):
        _build(corpus, tmp_path / "store", tiny_tokenizer)
    os.utime(src, ns=(stat.st_atime_ns, stat.st_mtime_ns))  # the mtime put back: the documents read still differ
    with pytest.raises(SourceChangedError, match=r"shard_00000.done.json: the documents of shard_00000 .* now differ"):
        _build(corpus, tmp_path / "store", tiny_tokenizer)
    assert _docs(_build(corpus, tmp_path / "store", tiny_tokenizer, force=True))  # --force rebuilds


def test_invalid_utf8_in_a_source_names_file_and_line(tmp_path, tiny_tokenizer):
    path = tmp_path / "bad.jsonl"
    path.write_bytes(b'{"text": "fine"}\n{"text": "caf\xe9"}\n')
    with pytest.raises(CorruptFileError, match=r"bad\.jsonl:2: not valid UTF-8 \(byte 0xe9 at column 14\)"):
        ts.build_token_store(SourceConfig(kind="jsonl", path=str(path)), tmp_path / "s", tiny_tokenizer, workers=0)
