import random

from prolong.sft.formats import normalize_record
from prolong.sft.synthetic import (GenerationReport, book_facts, generate_long_qa, parse_qa, rule_based_long_qa)
from prolong.sft.tiny import toy_world_chat


def _book():
    from prolong.data.toy_corpus import make_book
    from prolong.data.toy_world import make_world

    return make_book(random.Random(0), make_world(0), 20000, 0)


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


def test_model_generated_long_qa_with_a_generator():
    doc = "\n\n".join(f"Paragraph {i}: the value of item {i} is {i * 7}." for i in range(50))
    prompts = []

    def fake(prompt):
        prompts.append(prompt)
        return "nonsense" if len(prompts) == 2 else "Question: What is the value of item 3?\nAnswer: 21."

    rep = GenerationReport()
    convs = generate_long_qa([doc, doc], fake, n_questions=2, chunk_chars=200, seed=0, report=rep)
    assert rep.n_documents == 2 and rep.n_unparsed == 1 and rep.n_conversations == 2
    assert "Snippet:" in prompts[0] and len(prompts[0]) < 1000          # the model sees one chunk ...
    assert doc in convs[0]["messages"][0]["content"]                     # ... the SFT example the whole document
    assert parse_qa("Question: a?\nAnswer: b") == ("a?", "b") and parse_qa("Answer only") is None


def test_toy_world_chat_is_valid_conversations():
    rows = toy_world_chat(0, 50)
    assert len(rows) == 50
    for r in rows:
        normalize_record(r, "tulu")
    assert any(r["messages"][0]["role"] == "system" for r in rows)
