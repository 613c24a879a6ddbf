"""The evaluation's part of the tiny world is held out: no training document (corpus or SFT data) names a held-out
person, their pet, or a key the evaluation's Recall items use, and the evaluation's in-context items are about
held-out people only, so a tiny model can answer them from its context and never from memory."""

from __future__ import annotations

import random
import re

import pytest

from prolong.data.config import TinyCorpusConfig
from prolong.eval.tasks.recall import needles_fields
from prolong.tiny.corpus import DRILL_SOURCES, LONG_SOURCES, SHORT_SOURCES, tiny_documents
from prolong.tiny.eval_suite import longdoc_rows, profiles, rag_rows, rerank_rows
from prolong.tiny.instructions import suite_instructions, world_chat
from prolong.tiny.world import make_world


def _training_text() -> str:
    cfg = TinyCorpusConfig(seed=0, code_total_bytes=300_000, code_repo_bytes=60_000, n_books=12,
                           book_chars=[8000, 30000], short_docs={s: 60 for s in SHORT_SOURCES + DRILL_SOURCES})
    docs = [d for source in LONG_SOURCES + SHORT_SOURCES + DRILL_SOURCES for d in tiny_documents(cfg, source)]
    sft = suite_instructions(0, 20) + world_chat(0, 200)
    docs += [m["content"] for row in sft for m in row["messages"]]
    return "\n".join(docs)


@pytest.fixture(scope="module")
def training_words() -> set[str]:
    return set(re.findall(r"[A-Za-z]+(?:-[A-Za-z]+)?", _training_text()))


def test_heldout_names_never_in_training(training_words):
    world = make_world(0)
    assert len(world.heldout_people) >= 60
    train_names = {w for p in world.people for w in p.name.split()}
    for p in world.heldout_people:
        first, last = p.name.split()
        pet = p.pet.split()[-1]
        assert {first, last, pet}.isdisjoint(training_words), p
        assert {first, last}.isdisjoint(train_names)


def test_eval_items_are_about_heldout_people():
    heldout = {p.name for p in make_world(0).heldout_people}
    world = profiles(0)
    assert {p.name for p in world} <= heldout
    rng = random.Random(1)
    for row in rag_rows("nq", world, 5, rng, n_ctxs=10):
        assert all(c["title"] in heldout for c in row["ctxs"])
    for row in rerank_rows(world, 5, rng, n_ctxs=10):
        assert all(c["title"] in heldout for c in row["ctxs"])
    for row in longdoc_rows("narrativeqa", world, 3, rng, n_sent=20):
        assert any(h in row["question"] for h in heldout), row["question"]


def test_recall_keys_never_in_training(training_words):
    # the evaluation's RULER keys (English adjective-noun pairs) are never a key of a training passage
    # (prolong.tiny.skills: a color and a species)
    for i in range(30):
        fields, _ = needles_fields("mk_needle", 8, random.Random(42 * 100003 + i), i)
        assert fields["query"] not in training_words
