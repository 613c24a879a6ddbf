"""The toy world and corpus: deterministic, long-range dependencies in books, and an end-to-end tiny build."""

import json

import numpy as np
import pytest
import yaml

from prolong import paths
from prolong.data.config import ToyCorpusConfig
from prolong.data.toy_corpus import SHORT_SOURCES, make_book, short_documents, toy_documents
from prolong.data.toy_world import fact_question, fact_sentence, make_world


def test_world_is_deterministic_and_facts_render():
    a, b, c = make_world(0), make_world(0), make_world(1)
    assert a == b and a != c
    facts = a.facts()
    assert len({(f.subject, f.relation) for f in facts}) == len(facts)
    p = a.people[0]
    assert fact_sentence(next(f for f in facts if f.subject == p.name and f.relation == "key_number")) == \
        f"The secret number of {p.name} is {p.key_number}."
    assert fact_question(facts[0]).endswith("?")


def test_books_have_long_range_dependencies():
    import random

    world = make_world(0)
    book = make_book(random.Random(0), world, 30_000, 0)
    first, last = book.split("## Chapter 2")[0], book.rsplit("## Chapter", 1)[1]
    number = last.split("Q: What number opened the chest? A: ")[1].split("\n")[0]
    assert number in first and number not in book[len(first):-len(last)]     # only at the start and the end
    assert len(book) >= 28_000


def test_short_sources_lengths_like_table14():
    world = make_world(0)
    medians = {s: np.median([len(d) for d in short_documents(s, world, 0, n_docs=40)]) for s in SHORT_SOURCES}
    assert medians["arxiv"] > 5 * max(v for k, v in medians.items() if k != "arxiv")   # arxiv analog is long
    assert list(short_documents("tulu", world, 0, 3)) == list(short_documents("tulu", world, 0, 3))


def test_tiny_build_end_to_end(tmp_path, monkeypatch):
    """A shrunken tiny corpus: corpus -> tokenizer (HF format, chat template) -> stores -> mixture stream."""
    monkeypatch.setenv("PROLONG_DATA", str(tmp_path))
    params = yaml.safe_load((paths.PARAMS_DIR / "tiny" / "corpus.yaml").read_text())
    params["toy"].update(code_total_bytes=150_000, code_repo_bytes=60_000, n_books=3, book_chars=[8000, 20000],
                         short_docs={s: 12 for s in SHORT_SOURCES})
    params["train_tokenizer"] = {"vocab_size": 600, "sample_chars": 200_000}
    params["shard_chars"] = 100_000
    (tmp_path / "corpus.yaml").write_text(yaml.safe_dump(params))
    from prolong.data.build import build_tiny_data
    from prolong.data.mixing import MixtureStream
    from prolong.data.stats import length_share_table, long_tokens_table
    from prolong.data.token_store import TokenStore

    built = build_tiny_data(params=tmp_path / "corpus.yaml", workers=0)
    assert set(built.seconds) == {"corpus", "tokenizer", "stores"}
    again = build_tiny_data(params=tmp_path / "corpus.yaml")
    assert again.seconds == {} and again.stores == built.stores                       # idempotent fast path
    manifest = json.loads((built.corpus_dir / "manifest.json").read_text())
    assert manifest["sources"]["books"]["docs"] == 3

    from transformers import AutoTokenizer

    tok = AutoTokenizer.from_pretrained(str(built.tokenizer))
    chat = tok.apply_chat_template([{"role": "user", "content": "Where does Mira live?"},
                                    {"role": "assistant", "content": "In Ostrel."}], tokenize=True,
                                   return_dict=True, return_assistant_tokens_mask=True)
    text = tok.decode(chat["input_ids"])
    assert text.startswith("<|user|>") and "<|assistant|>" in text and text.endswith("<|end|>")
    assert 0 < sum(chat["assistant_masks"]) < len(chat["input_ids"])
    assert tok.bos_token == "<|bos|>" and tok.eos_token == "<|eos|>" and tok.pad_token == "<|pad|>"

    stores = {n: TokenStore.open(p) for n, p in built.stores.items()}
    t3 = long_tokens_table(stores, min_tokens=1024, unit=1)
    assert list(t3.columns) == ["source", "long_tokens_B"] and t3.set_index("source").loc["books"].item() > 0
    t14 = length_share_table(stores, (256, 1024))
    assert list(t14.columns) == ["source", ">256", ">1K"]
    mix = {"domains": {"books": {"store": "tiny/stores/books", "min_tokens": 1024},
                       "tulu": {"store": "tiny/stores/tulu"}}, "mixture": ["books@0.6", "tulu@0.4"]}
    (tmp_path / "mix.yaml").write_text(yaml.safe_dump(mix))
    seqs = MixtureStream.from_yaml(tmp_path / "mix.yaml", seq_len=256).take(10)
    assert [s.domain for s in seqs].count("books") == 6


def test_toy_documents_rejects_unknown_source():
    with pytest.raises(KeyError, match="unknown toy source 'nope'"):
        next(toy_documents(ToyCorpusConfig(), "nope"))


def test_stats_tables_on_known_lengths(make_store):
    from data_fixtures import FAKE_TOK  # noqa: F401
    from prolong.data.stats import length_share_table, long_tokens_table
    from prolong.data.token_store import TokenStore

    docs = [np.zeros(n, np.uint32) for n in (100, 5000, 9000, 40000)]
    store = TokenStore.open(make_store("s", docs))
    t3 = long_tokens_table({"S": store}, min_tokens=5000, unit=1000)
    assert t3.to_dict("records") == [{"source": "S", "long_tokens_B": 54.0}]
    t14 = length_share_table({"S": store})
    assert t14.to_dict("records") == [{"source": "S", ">4K": 75.0, ">8K": 50.0, ">16K": 25.0, ">32K": 25.0}]
