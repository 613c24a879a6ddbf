"""The tiny world and corpus: deterministic, one Person for every use, long-range dependencies in books."""

import numpy as np
import pytest

from prolong.data.config import TinyCorpusConfig
from prolong.tiny.corpus import SHORT_SOURCES, make_book, short_documents, tiny_documents
from prolong.tiny.world import fact_question, fact_sentence, make_world


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


def test_tiny_documents_rejects_unknown_source():
    with pytest.raises(KeyError, match="unknown tiny source 'nope'"):
        next(tiny_documents(TinyCorpusConfig(), "nope"))
