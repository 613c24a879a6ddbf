import random

import pytest

from prolong.eval import metrics as M
from prolong.eval.tasks.icl import balance_labels, icl_item, label_ids, label_mapping


def test_normalize():
    assert M.normalize_answer("The  Eiffel-Tower, in PARIS!") == "eiffeltower in paris"
    assert M.normalize_answer("an apple a day") == "apple day"
    assert M.normalize_answer("theater") == "theater"  # articles only as whole words


def test_subem_em_f1_max_over_golds():
    assert M.substring_exact_match("It is the Eiffel Tower.", ["eiffel tower", "x"]) == 1.0
    assert M.substring_exact_match("Paris", ["Paris, France"]) == 0.0
    assert M.exact_match("The Paris.", ["paris"]) == 1.0
    assert M.exact_match("paris france", ["paris"]) == 0.0
    assert M.token_f1("paris france", ["paris", "lyon"]) == pytest.approx(2 * 0.5 * 1 / 1.5)
    assert M.token_f1("no", ["yes"]) == 0.0
    assert M.substring_exact_match("x", [["a", "x"]]) == 1.0  # list of lists is flattened


def test_parse_output_and_keep_better():
    assert M.parse_output("blah\nAnswer: Paris\nmore", "Answer:") == "Paris"
    assert M.parse_output("Paris\nsecond line", "Answer:") == "Paris"  # no prefix: first line
    assert M.parse_output("answer: answer: Rome", "Answer:") == "Rome"  # echoed prefix stripped again
    # raw output has EM 0 (extra text), parsed has EM 1: the better is kept
    mets, parsed = M.score_raw_and_parsed("Answer: Paris\nBecause it is the capital.", ["Paris"])
    assert parsed == "Paris" and mets["exact_match"] == 1.0
    # parsed loses the answer (on the 2nd line) but raw SubEM finds it: still 1
    mets, _ = M.score_raw_and_parsed("I think\nParis", ["Paris"])
    assert mets["substring_exact_match"] == 1.0 and mets["exact_match"] == 0.0


def test_helmet_metric_edge_cases():
    # utils.py f1_score: yes/no/noanswer must match exactly; EM/F1 strip punctuation before articles
    assert M.token_f1("yes", ["yes it is"]) == 0.0 and M.token_f1("no", ["no"]) == 1.0
    assert M.exact_match("The-end", ["theend"]) == 1.0  # punctuation removed first, so "the-end" -> "theend"
    assert M.substring_exact_match("", ["a"]) == 1.0  # normalize("a") == "" is a substring of anything (HELMET)
    # parse_output: prefix matched case-insensitively anywhere, text up to the first newline
    assert M.parse_output("Corresponding value: abc\nxyz", "corresponding value:") == "abc"


def test_completion_output_prepends_prefix():
    from prolong.eval import prompts as P

    # HELMET eval.py: without a chat template the answer prefix is prepended before scoring
    out = P.completion_output(" Paris\nmore", P.RAG_PREFIX, {}, chat=False)
    assert out == "Answer: Paris\nmore" and M.parse_output(out) == "Paris"
    assert P.completion_output("Paris", P.RAG_PREFIX, {}, chat=True) == "Paris"
    niah = P.completion_output(" 1234567.", P.RULER_NIAH_PREFIX, {"type_needle_v": "number", "query": "red-cat"},
                               chat=False)
    assert niah == "The special magic number for red-cat mentioned in the provided text is 1234567."


def test_ruler_recall():
    assert M.ruler_recall("values: 123, 456", ["123", "456", "789", "000"]) == 0.5
    assert M.ruler_recall("UUID ABC-def", ["abc-DEF"]) == 1.0


def test_rouge_matches_rouge_score():
    from rouge_score import rouge_scorer

    pred, gold = "The cats were running quickly home", "the cat runs home quickly"
    ref = rouge_scorer.RougeScorer(["rougeL"], use_stemmer=True).score(gold, pred)["rougeL"].fmeasure
    assert M.rouge(pred, [gold, "unrelated words"])["rougeL_f1"] == pytest.approx(ref)


def test_icl_label_mapping_is_seeded_by_text_and_demos_balanced():
    train = [{"text": f"t{i}", "label": i % 4} for i in range(40)]
    demos = balance_labels(train, 8, 42)
    c1, a1 = icl_item("query one", 2, demos, 4, seed=42)
    c2, a2 = icl_item("query one", 2, demos, 4, seed=42)
    assert (c1, a1) == (c2, a2)  # deterministic
    mappings = {icl_item(f"query {k}", 2, demos, 4, 42)[1] for k in range(30)}
    assert len(mappings) > 1  # the label id of class 2 depends on the item text
    # HELMET: random.seed((sha256(text) + seed) % 2**31); random.shuffle(list(range(num_labels)))
    import hashlib
    local = (int(hashlib.sha256("query one".encode()).hexdigest(), 16) + 42) % 2**31
    ref = list(range(4))
    random.seed(local)
    random.shuffle(ref)
    assert label_mapping("query one", 4, 42) == ref and a1 == str(ref[2])
    assert sorted(d["label"] for d in demos) == [0, 0, 1, 1, 2, 2, 3, 3]
    assert {d["label"] for d in demos[:4]} == {0, 1, 2, 3}  # round robin: one of each label per round
    assert balance_labels(train, 8, 42) == demos  # deterministic for a seed (HELMET seeds it per item)
    # the context's lines carry the mapped ids, consistent with the gold answer's mapping
    lines = c1.split("\n\n")
    assert len(lines) == 8 and all("\nlabel: " in l for l in lines)
    assert lines[0] == f"{demos[0]['text']}\nlabel: {ref[demos[0]['label']]}"
    rows, n = label_ids([{"text": "a", "label": "pos"}, {"text": "b", "label": "neg"}])
    assert n == 2 and rows[0]["label"] == 1
    assert label_ids([{"text": "a", "label": 3}], 50)[1] == 50  # HELMET's fixed num_labels (TREC fine: 50)


def test_hf_shuffle_matches_datasets():
    from datasets import Dataset

    from prolong.eval.tasks.base import hf_shuffle_select
    from prolong.eval.tasks.common import pick_demos

    rows = [{"id": str(i), "v": i} for i in range(37)]
    ref = Dataset.from_list(rows).shuffle(seed=42).select(range(10))
    assert [r["v"] for r in hf_shuffle_select(rows, 10, 42)] == ref["v"]
    # HELMET's load_qa demos: filter the item out (popqa), shuffle(seed=sha256(key) % 2**31), drop duplicates
    import hashlib
    pool = rows + [{"id": "3", "v": 99}]
    h = int(hashlib.sha256("5".encode()).hexdigest(), 16) % 2**31
    ds = Dataset.from_list([r for r in pool if r["id"] != "5"]).shuffle(seed=h)
    seen, want = set(), []
    for r in ds:
        if r["id"] not in seen:
            seen.add(r["id"])
            want.append(r["v"])
    assert [d["v"] for d in pick_demos(pool, 2, "5", "id")] == want[:2]


def test_icl_scoring_uses_parsed_em():
    from prolong.eval.tasks.base import EvalItem
    from prolong.eval.tasks.icl import _score

    mets, parsed = _score(" 3\nlabel: 4", EvalItem({}, "3"))
    assert parsed == "4" and mets["exact_match"] == 0.0  # "label:" found on line 2: parsed is "4"
    mets, parsed = _score(" 3\n", EvalItem({}, "3"))
    assert parsed == "3" and mets["exact_match"] == 1.0
