"""Shared fixtures of the data tests: a fake tokenizer identity, synthetic token stores, a tiny trained tokenizer."""

from __future__ import annotations

import json

import pytest

from tests.helpers.data import FAKE_TOK, TEXTS
from prolong.data.config import SourceConfig
from prolong.data.store_build import write_token_store

@pytest.fixture(autouse=True)
def _quiet(monkeypatch):
    monkeypatch.setenv("PROLONG_QUIET", "1")


@pytest.fixture
def corpus(tmp_path):
    """A jsonl source of `TEXTS` (60 documents of varied length)."""
    path = tmp_path / "docs.jsonl"
    path.write_text("".join(json.dumps({"text": t}) + "\n" for t in TEXTS))
    return SourceConfig(kind="jsonl", path=str(path))


@pytest.fixture
def make_store(tmp_path):
    """make_store(name, docs, docs_per_shard, tok) -> store path under tmp_path (relative data root = tmp_path)."""
    def make(name, docs, docs_per_shard=50, tok=FAKE_TOK):
        path = tmp_path / "stores" / name
        write_token_store(path, docs, tok, docs_per_shard=docs_per_shard)
        return path
    return make


@pytest.fixture(scope="session")
def tiny_tokenizer(tmp_path_factory):
    """A small byte-level BPE (vocab 400) trained in about a second."""
    from prolong.data.tokenizer import train_byte_bpe

    texts = ["def f(x):\n    return x + 1\n", "Once upon a time Mira lived in Ostrel by the river.",
             "The number is 4821. Q: What number? A: 4821"] * 50
    return str(train_byte_bpe(texts, tmp_path_factory.mktemp("tok") / "tokenizer", vocab_size=400))
