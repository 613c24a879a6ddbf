"""Long-document QA / Summ items as HELMET's loaders pick them (data.py, re-implemented here from its source):
length filters, the order of shuffle and filter, demos from the train split or HELMET's fixed-seed pick."""

from __future__ import annotations

import json

from datasets import Dataset

from prolong.eval.tasks import longdoc


def _write(path, rows):
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _docs(n):  # document i has 10 + 7 * (i % 5) words: some pass a 30-token filter, some do not
    return [" ".join(f"w{j}" for j in range(10 + 7 * (i % 5))) for i in range(n)]


def test_narrativeqa_shuffle_then_filter_demos_from_train(tmp_path, word_tokenizer):
    rows = [{"id": str(i), "context": d, "question": f"q{i}?", "answers": [f"a{i}"]} for i, d in enumerate(_docs(40))]
    train = [{"id": f"t{i}", "context": "x", "question": f"tq{i}?", "answers": [f"ta{i}"]} for i in range(6)]
    _write(tmp_path / "narrativeqa.jsonl", rows)
    _write(tmp_path / "narrativeqa_train.jsonl", train)
    _, items = longdoc.longdoc("narrativeqa", tmp_path / "narrativeqa.jsonl", word_tokenizer, 4096, 5, seed=42,
                               min_tokens=31)
    # HELMET: all_data["test"].shuffle(seed=seed), filter input_length > threshold, select(range(n))
    ds = Dataset.from_list(rows).shuffle(seed=42)
    ds = ds.filter(lambda x: len(word_tokenizer(x["context"])["input_ids"]) >= 31)
    assert [it.extra["id"] for it in items] == list(ds.select(range(5))["id"])
    for it in items:
        assert it.extra["demo_source"] == "train"
        assert it.fields["demos"].startswith("For example:\n\nQuestion: tq") and "Now, use the following story" in \
            it.fields["demos"]


def test_infbench_filter_then_sample_demos_by_fixed_seed(tmp_path, word_tokenizer):
    rows = [{"id": i, "context": d, "input": f"q{i}?", "answer": [f"a{i}"], "options": []}
            for i, d in enumerate(_docs(30))]
    _write(tmp_path / "infbench_qa.jsonl", rows)
    _, items = longdoc.longdoc("infbench_qa", tmp_path / "infbench_qa.jsonl", word_tokenizer, 4096, 4, seed=42,
                               min_tokens=31)
    data = Dataset.from_list(rows)
    kept = data.filter(lambda x: len(word_tokenizer(x["context"])["input_ids"]) >= 31)
    ref = kept.shuffle(seed=42).select(range(4))  # filter_length, truncate, then shuffle(seed).select(n)
    assert [it.extra["id"] for it in items] == [str(i) for i in ref["id"]]
    for it, r in zip(items, ref):
        # add_demos: data.filter(id != example id).shuffle(seed=seed).select(range(shots)), on the unfiltered rows
        demos = data.filter(lambda x: x["id"] != r["id"]).shuffle(seed=42).select(range(2))
        body = "\n\n".join(f"[story text]\nQuestion: {d['input']}\nAnswer: {d['answer'][0]}" for d in demos)
        assert it.fields["demos"] == f"For example:\n\n{body}\n\nNow, read the following story:\n\n"


def test_multi_lexsum_filter_and_summ_parsing(tmp_path, word_tokenizer):
    rows = [{"id": str(i), "context": d, "summary": f"s{i}"} for i, d in enumerate(_docs(12))]
    _write(tmp_path / "multi_lexsum.jsonl", rows)
    _write(tmp_path / "multi_lexsum_train.jsonl", [{"id": "t", "context": "x", "summary": "train summary"}])
    _, items = longdoc.longdoc("multi_lexsum", tmp_path / "multi_lexsum.jsonl", word_tokenizer, 4096, 100,
                               min_tokens=31)
    long_ids = [str(i) for i, d in enumerate(_docs(12)) if len(word_tokenizer(d)["input_ids"]) >= 31]
    assert [it.extra["id"] for it in items] == long_ids  # at most n left: kept in order, not shuffled
    assert "Summary: train summary" in items[0].fields["demos"]
    spec = longdoc._spec("infbench_sum", None)
    mets, parsed = spec.score("Summary: x\nAnswer: the plot", longdoc.EvalItem({}, ["the plot"]))
    assert parsed == "the plot"  # InfiniteBench Sum: HELMET's default post-processing parses after "Answer:"
    assert longdoc._spec("multi_lexsum", None).score("Summary: s1", longdoc.EvalItem({}, ["s1"]))[1] == "s1"


def test_length_filter_leaving_nothing_is_an_error(tmp_path, word_tokenizer):
    import pytest

    _write(tmp_path / "narrativeqa.jsonl", [{"context": "short", "question": "q", "answers": ["a"]}])
    with pytest.raises(ValueError, match="longdoc_min_tokens"):
        longdoc.longdoc("narrativeqa", tmp_path / "narrativeqa.jsonl", word_tokenizer, 4096, 5, min_tokens=131073)
