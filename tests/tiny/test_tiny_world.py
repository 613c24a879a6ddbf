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
    """Every recalled secret number is the one the person's introduction gave, and many recalls come thousands of
    characters after the previous mention (beyond the base model's 256 tokens, about 1K characters)."""
    import random
    import re

    world = make_world(0)
    book = make_book(random.Random(0), world, 30_000)
    intros = {m["first"]: m["key"] for m in re.finditer(r"(?P<first>\w+) had a \w+ named \w+\. The secret number of "
                                                      r"(?P=first) was (?P<key>\d+)\.", book)}
    assert len(intros) >= 3 and len(book) >= 28_000
    last_seen, gaps = {}, []
    for m in re.finditer(r"(?P<first>[A-Z]\w+) whispered the secret number (?P<key>\d+) again|The secret number of "
                         r"(?P<f2>[A-Z]\w+) was (?:still )?(?P<k2>\d+)", book):
        first, key = m["first"] or m["f2"], m["key"] or m["k2"]
        assert intros[first] == key
        if first in last_seen:
            gaps.append(m.start() - last_seen[first])
        last_seen[first] = m.start()
    assert len(gaps) >= 10 and sum(g > 2000 for g in gaps) >= len(gaps) // 4


def test_short_sources_lengths_like_table14():
    world = make_world(0)
    medians = {s: np.median([len(d) for d in short_documents(s, world, 0, n_docs=40)]) for s in SHORT_SOURCES}
    assert medians["arxiv"] > 5 * max(v for k, v in medians.items() if k != "arxiv")   # arxiv analog is long
    assert list(short_documents("tulu", world, 0, 3)) == list(short_documents("tulu", world, 0, 3))


def test_tiny_documents_rejects_unknown_source():
    with pytest.raises(KeyError, match="unknown tiny source 'nope'"):
        next(tiny_documents(TinyCorpusConfig(), "nope"))
