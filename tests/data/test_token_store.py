"""Token stores: exact round trip, parallel = serial, resume after a kill, tokenizer identity, empty sources."""

import json

import numpy as np
import pytest

from prolong.data import store_build as ts
from prolong.data.config import SourceConfig
from tests.helpers.data import TEXTS
from prolong.data.sources import SourceError
from prolong.data.tokenizer import TokenizerMismatchError, identity_of, load_fast_tokenizer, train_byte_bpe

def _build(src, out, tok, **kw):
    return ts.build_token_store(src, out, tok, shard_chars=kw.pop("shard_chars", 700), **kw)


def test_round_trip_and_shards(corpus, tmp_path, tiny_tokenizer):
    store = _build(corpus, tmp_path / "store", tiny_tokenizer, workers=0)
    tok, _ = load_fast_tokenizer(tiny_tokenizer)
    assert len(store.shards) > 3 and store.n_docs == len(TEXTS)
    assert [tok.decode(d.tolist()) for d in store.iter_docs()] == TEXTS
    assert store.n_tokens == sum(len(tok.encode(t, add_special_tokens=False).ids) for t in TEXTS)
    assert store.tokenizer == identity_of(tiny_tokenizer)


def test_parallel_equals_serial_and_min_tokens(corpus, tmp_path, tiny_tokenizer):
    serial = _build(corpus, tmp_path / "a", tiny_tokenizer, workers=0)
    parallel = _build(corpus, tmp_path / "b", tiny_tokenizer, workers=2)
    assert [d.tolist() for d in serial.iter_docs()] == [d.tolist() for d in parallel.iter_docs()]
    long_src = SourceConfig(kind="jsonl", path=corpus.path, min_tokens=60)
    long_only = _build(long_src, tmp_path / "c", tiny_tokenizer, workers=0)
    lengths = serial.doc_lengths()
    assert long_only.n_docs == int((lengths >= 60).sum()) > 0
    assert long_only.doc_lengths().tolist() == lengths[lengths >= 60].tolist()


def test_resume_after_kill(corpus, tmp_path, tiny_tokenizer, monkeypatch):
    clean = _build(corpus, tmp_path / "clean", tiny_tokenizer, workers=0)
    real = ts._tokenize_shard
    calls = []

    def dies_at_shard_3(out, index, docs, min_tokens):
        calls.append(index)
        if index == 3:
            (ts.Path(out) / ".shard_00003.tokens.tmp").write_bytes(b"half")   # a torn write
            raise KeyboardInterrupt("killed")
        return real(out, index, docs, min_tokens)

    monkeypatch.setattr(ts, "_tokenize_shard", dies_at_shard_3)
    with pytest.raises(KeyboardInterrupt):
        _build(corpus, tmp_path / "store", tiny_tokenizer, workers=0)
    assert not (tmp_path / "store" / "store.json").exists()
    with pytest.raises(FileNotFoundError, match="build incomplete"):
        ts.TokenStore.open(tmp_path / "store")
    calls.clear()
    monkeypatch.setattr(ts, "_tokenize_shard", lambda *a: (calls.append(a[1]), real(*a))[1])
    resumed = _build(corpus, tmp_path / "store", tiny_tokenizer, workers=0)
    assert calls and min(calls) == 3                       # shards 0-2 were not tokenized again
    assert [d.tolist() for d in resumed.iter_docs()] == [d.tolist() for d in clean.iter_docs()]
    calls.clear()
    _build(corpus, tmp_path / "store", tiny_tokenizer, workers=0)
    assert calls == []                                     # a complete store is not rebuilt
    with pytest.raises(ValueError, match="unfinished build of this store used other params"):
        (tmp_path / "store" / "store.json").unlink()
        _build(corpus, tmp_path / "store", tiny_tokenizer, workers=0, shard_chars=900)


def test_store_from_another_tokenizer_is_an_error(corpus, tmp_path, tiny_tokenizer):
    _build(corpus, tmp_path / "store", tiny_tokenizer, workers=0)
    other = str(train_byte_bpe(["completely different text zzz qqq"] * 20, tmp_path / "other", vocab_size=300))
    with pytest.raises(TokenizerMismatchError, match=r"store.*built with tokenizer '.*tokenizer'.*but tokenizer "
                                                     r"'.*other'.*rebuild the store"):
        ts.TokenStore.open(tmp_path / "store", expect=identity_of(other))
    with pytest.raises(TokenizerMismatchError):
        _build(corpus, tmp_path / "store", other, workers=0)


def test_empty_sources(tmp_path, tiny_tokenizer):
    empty = tmp_path / "empty.jsonl"
    empty.write_text("\n")
    with pytest.raises(SourceError, match=r"empty.jsonl: source 'e' \(jsonl\) has no documents"):
        ts.build_token_store(SourceConfig(kind="jsonl", path=str(empty)), tmp_path / "e", tiny_tokenizer, workers=0)
    short = tmp_path / "short.jsonl"
    short.write_text(json.dumps({"text": "tiny"}) + "\n")
    with pytest.raises(SourceError, match=r"no document of at least min_tokens=1000 tokens \(1 read\)"):
        ts.build_token_store(SourceConfig(kind="jsonl", path=str(short), min_tokens=1000), tmp_path / "s",
                             tiny_tokenizer, workers=0)


def test_write_token_store_layout(tmp_path):
    from tests.helpers.data import FAKE_TOK

    docs = [np.arange(n, dtype=np.uint32) for n in (3, 0, 5, 2)]
    store = ts.write_token_store(tmp_path / "s", docs, FAKE_TOK, docs_per_shard=3)
    assert len(store.shards) == 2 and store.doc_lengths().tolist() == [3, 0, 5, 2]
    assert [d.tolist() for d in store.iter_docs()] == [d.tolist() for d in docs]
