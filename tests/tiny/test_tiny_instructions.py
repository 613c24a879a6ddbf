"""The tiny instruction data: the suite's task formats as chat, chat about the world, rule-made long QA over books."""

import json
import random

from prolong.sft.formats import normalize_record
from prolong.tiny.corpus import make_book
from prolong.tiny.instructions import suite_instructions, world_chat
from prolong.tiny.long_qa import book_facts, rule_based_long_qa
from prolong.tiny.world import make_world


def _book():
    return make_book(random.Random(0), make_world(0), 20000)


def test_rule_based_long_qa_asks_at_the_end_about_early_facts():
    book = _book()
    facts = book_facts(book)
    assert facts is not None and facts["key"] in book[:1000]
    convs = rule_based_long_qa([book], doc_chars=6000, n_questions=2, seed=1)
    assert len(convs) == 1
    msgs = normalize_record(convs[0], "tulu")
    assert [m["role"] for m in msgs] == ["user", "assistant", "user", "assistant"]
    doc = msgs[0]["content"]
    assert doc.startswith(book[:200]) and len(doc) > 5000 and "Questions about the story" not in doc
    for k in (1, 3):                                  # every answer is in the document, given early or in a chunk
        assert msgs[k]["content"].split(" worked as")[0] in doc


def test_world_chat_is_valid_conversations():
    rows = world_chat(0, 50)
    assert len(rows) == 50
    for r in rows:
        normalize_record(r, "tulu")
    assert any(r["messages"][0]["role"] == "system" for r in rows)


def test_suite_instructions_cover_every_task():
    rows = suite_instructions(n_per_task=1)
    tasks = {r["task"] for r in rows}
    assert {"json_kv", "ruler_mv", "nq", "msmarco_rerank", "icl_nlu", "narrativeqa", "multi_lexsum"} <= tasks
    kv = next(r for r in rows if r["task"] == "json_kv")
    assert kv["messages"][1]["content"].startswith("Corresponding value: ")
    json.dumps(rows)
