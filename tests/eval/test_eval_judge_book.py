"""InfiniteBench Sum judged as HELMET's scripts/eval_gpt4_summ.py judges it: the novel ("book") prompt set, not
Multi-LexSum's legal-case one; the judge's replies parsed and combined as HELMET does. The judge is a scripted client
(no network): each test writes the replies a GPT-4o judge could give."""

from __future__ import annotations

import hashlib
import json
import re

import numpy as np
import pytest

from prolong.eval.categories import SUMM
from prolong.eval.config import EvalConfig
from prolong.eval.judge import Judge, JudgeConfig, judge_item, summ_prompts
from prolong.eval.judge_prompts import SUMM_FLUENCY, SUMM_PRECISION, SUMM_RECALL
from prolong.eval.judge_prompts_book import BOOK_FLUENCY, BOOK_PRECISION, BOOK_RECALL
from prolong.eval.runner import evaluate_task
from prolong.eval.tasks.longdoc import longdoc

# sha256 of the six prompts as Python evaluates HELMET's scripts/eval_gpt4_summ.py (princeton-nlp/HELMET at
# 4526dfbdc512bd9ff721da336bff4e3e75ecfd27): any edit of a prompt here changes the metric and fails this pin
HELMET_SHA256 = {
    "fluency_prompt": "1ae2a512ceda269aa9e72e315dc1abcda107f117461fdd7b62d2c20d086a5944",
    "recall_prompt": "18fbb46816b4f27396742966b6ed10ca97cab895aa6b482d3972b687c180a3d4",
    "precision_prompt": "977e320bea9a59567f5fbe23f74566d96940b946a23104c6d7d007e2989113af",
    "fluency_prompt_book": "1cdd25fa4ef5982bbd528c1ff37fcedc5aeb79167ad1359d0cae5afab293bc82",
    "recall_prompt_book": "2716154035020275c959dece28b02b8f098b9c1384d520d2e3efd1479169625e",
    "precision_prompt_book": "98f9964803fa36d0fe75169ea2d90cd3f9dc6ff0e79302941bdc3c8c3ea782dc",
}


class ScriptedJudge(Judge):
    """A judge whose replies come from `reply(prompt)`; every prompt it is sent is kept in `sent`."""

    def __init__(self, reply):
        super().__init__(JudgeConfig(enabled=True, model="scripted"))
        self.reply, self.sent = reply, []

    def chat(self, prompt: str, max_tokens: int) -> str:
        self.sent.append((prompt, max_tokens))
        return self.reply(prompt)


def _sha(s: str) -> str:
    return hashlib.sha256(s.encode()).hexdigest()


def test_prompt_sets_are_helmets_and_chosen_by_dataset():
    mine = {"fluency_prompt": SUMM_FLUENCY, "recall_prompt": SUMM_RECALL, "precision_prompt": SUMM_PRECISION,
            "fluency_prompt_book": BOOK_FLUENCY, "recall_prompt_book": BOOK_RECALL,
            "precision_prompt_book": BOOK_PRECISION}
    assert {k: _sha(v) for k, v in mine.items()} == HELMET_SHA256
    book, legal = summ_prompts("infbench_sum"), summ_prompts("multi_lexsum")
    assert (book.fluency, book.recall, book.precision) == (BOOK_FLUENCY, BOOK_RECALL, BOOK_PRECISION)
    assert (legal.fluency, legal.recall, legal.precision) == (SUMM_FLUENCY, SUMM_RECALL, SUMM_PRECISION)
    assert "summary of a novel" in book.recall and "civil lawsuit" in legal.recall
    with pytest.raises(ValueError, match="no Summ judge prompts"):
        summ_prompts("narrativeqa")


def _infbench_files(tmp_path, n=3):
    """infbench_sum in the project's longdoc/ folder, its key points in HELMET's data/infbench/ file (by id)."""
    (tmp_path / "longdoc").mkdir()
    (tmp_path / "infbench").mkdir()
    rows = [{"id": i, "context": f"Chapter {i}. " + "The raft went down the river. " * 30, "input": "",
             "answer": [f"Reference summary {i}: the family travels down the river."], "options": []}
            for i in range(n)]
    (tmp_path / "longdoc" / "infbench_sum.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    kps = [{"id": i, "keypoints": [f"Key point {i}.{j}" for j in range(i + 2)]} for i in range(n)]
    (tmp_path / "infbench" / "longbook_sum_eng_keypoints.jsonl").write_text(
        "".join(json.dumps(k) + "\n" for k in kps))
    return rows, kps


# replies shaped as the examples of HELMET's prompts: reasoning, then "Output: {json}"; the book recall prompt asks
# for the supported key points too, a key the score does not read
REPLIES = {"fluency": 'The text is coherent.\n\nOutput: {"fluency": 1}',
           "recall": 'Key point 1 is supported, key point 2 is not.\n\nOutput: {"supported_key_points": [1], '
                     '"recall": 1}',
           "precision": 'Sentence 1 is supported {"note": "not this one"} ... Therefore the precision score is 2.\n'
                        '\nOutput: {"precision": 2, "sentence_count":  3}'}


def _kind(prompt: str) -> str:
    if "evaluate the fluency" in prompt:
        return "fluency"
    return "recall" if "Key points:" in prompt and "Recall:" in prompt else "precision"


def test_infbench_sum_sends_the_book_prompts(tmp_path, bpe_tokenizer):
    rows, kps = _infbench_files(tmp_path)
    _, items = longdoc("infbench_sum", tmp_path / "longdoc" / "infbench_sum.jsonl", bpe_tokenizer, 4096, None,
                       shots=0)
    item = next(it for it in items if it.extra["id"] == "2")
    assert item.extra["keypoints"] == kps[2]["keypoints"]  # read from HELMET's keypoints file by id
    judge = ScriptedJudge(lambda p: REPLIES[_kind(p)])
    output = "  The family goes down the river on a raft.\nThey reach Belem.  "
    got = judge_item(judge, SUMM, "infbench_sum", item, output)
    text = output.strip()  # HELMET: d["output"].strip(), the raw output
    assert [p for p, _ in judge.sent] == [
        BOOK_FLUENCY.format(text=text),
        BOOK_RECALL.format(keypoints="1. Key point 2.0\n2. Key point 2.1\n3. Key point 2.2\n4. Key point 2.3",
                           summary=text),
        BOOK_PRECISION.format(expert_summary=rows[2]["answer"][0], summary=text)]
    assert all(n == 4096 for _, n in judge.sent)  # HELMET: generation_max_length=4096 for the Summ judge
    assert f"<start of summary>{rows[2]['answer'][0]}<end of summary>" in judge.sent[2][0]
    assert "civil lawsuit" not in "".join(p for p, _ in judge.sent)
    rec, prec = 1 / 4, 2 / 3  # recall 1 of 4 key points; precision 2 of the judge's own count of 3 sentences
    f1 = 2 * rec * prec / (rec + prec)
    assert got == pytest.approx({"judge_fluency": 1.0, "judge_recall": rec, "judge_precision": prec,
                                 "judge_f1": f1, "judge_score": f1})


def test_multi_lexsum_sends_the_legal_prompts_with_the_long_summary():
    class Item:
        answers = ["Short summary."]
        extra = {"keypoints": ["A sued B.", "B settled."], "summary_long": "Long expert summary."}
        fields = {"question": ""}

    judge = ScriptedJudge(lambda p: REPLIES[_kind(p)])
    judge_item(judge, SUMM, "multi_lexsum", Item(), "Summary: A sued B.")
    assert [p for p, _ in judge.sent] == [
        SUMM_FLUENCY.format(text="Summary: A sued B."),
        SUMM_RECALL.format(keypoints="1. A sued B.\n2. B settled.", summary="Summary: A sued B."),
        SUMM_PRECISION.format(expert_summary="Long expert summary.", summary="Summary: A sued B.")]


def helmet_parse_json(text):
    """eval_gpt4_summ.py's parse_json, as written there."""
    matches = re.findall(r"\{.*?\}", text, re.DOTALL)
    if len(matches) > 0:
        try:
            json.loads(matches[-1])
        except json.JSONDecodeError:
            matches = re.findall(r"(?:```json)(.+)(?:```)", text, re.DOTALL)
            try:
                json.loads(matches[-1])
            except (json.JSONDecodeError, IndexError):
                return None
        return json.loads(matches[-1])
    return None


def helmet_f1(replies, n_keypoints):
    """eval_gpt4_summ.py's check_metrics for one item: None when a reply has no JSON (the item is skipped)."""
    f, r, p = (helmet_parse_json(x) for x in replies)
    if f is None or r is None or p is None:
        return None
    rec = r["recall"] / n_keypoints if n_keypoints > 0 else 0
    prec = p["precision"] / p["sentence_count"] if p["sentence_count"] > 0 else 0
    return f["fluency"] * 2 * (rec * prec) / (rec + prec) if rec + prec > 0 else 0


# per item (fluency, recall, precision) replies: a ```json block after a broken {...}, a judge that counts 0
# sentences, a non-fluent text, and a reply without JSON (HELMET skips that item: it is not a 0)
CASES = {
    "0": ('{"fluency": 1}', 'Output: {"recall": 2 (two)} so ```json\n{"recall": 2}\n```',
          '{"precision": 1, "sentence_count": 4}'),
    "1": ('{"fluency": 1}', '{"supported_key_points": [1, 2, 3], "recall": 3}',
          '{"precision": 0, "sentence_count": 0}'),
    "2": ('{"fluency": 0}', '{"recall": 4}', '{"precision": 4, "sentence_count": 4}'),
    "3": ('Fluent.', '{"recall": 5}', '{"precision": 3, "sentence_count": 4}'),
}


def test_parse_and_combined_score_as_helmet(tmp_path, bpe_tokenizer, tiny_model):
    _infbench_files(tmp_path, n=4)
    spec, items = longdoc("infbench_sum", tmp_path / "longdoc" / "infbench_sum.jsonl", bpe_tokenizer, 1024, None,
                          shots=0, max_new_tokens=8)
    # the runner judges the items in their order, three calls each (fluency, recall, precision): a queue of replies
    queue = [r for it in items for r in CASES[it.extra["id"]]]
    judge = ScriptedJudge(lambda p: queue.pop(0))
    res = evaluate_task(tiny_model, bpe_tokenizer, spec, items, 1024, EvalConfig(), judge)
    assert not queue and [_kind(p) for p, _ in judge.sent] == ["fluency", "recall", "precision"] * len(items)
    assert all(p.startswith(BOOK_RECALL.split("\n")[0]) for p, _ in judge.sent[1::3])  # the book prompt

    ref = {it.extra["id"]: helmet_f1(CASES[it.extra["id"]], len(it.extra["keypoints"])) for it in items}
    assert ref == pytest.approx({"0": 2 * 1 * 0.25 / 1.25,  # the ```json fallback read recall 2 of 2
                                 "1": 0.0,  # sentence_count 0 -> precision 0 -> F1 0, still scored
                                 "2": 0.0,  # not fluent
                                 "3": None})  # no JSON in the fluency reply: HELMET skips the item
    for d, it in zip(res["data"], items, strict=True):
        want = ref[it.extra["id"]]
        if want is None:
            assert not any(k.startswith("judge_") for k in d["metrics"])
        else:
            assert d["metrics"]["judge_f1"] == pytest.approx(want)
    scored = [v for v in ref.values() if v is not None]
    # HELMET's gpt-4-f1: np.mean over the scored items (collect_results then x100); the runner's average is x100
    assert res["averaged_metrics"]["main_metric"] == "judge_score"
    assert res["averaged_metrics"]["judge_score"] == pytest.approx(100 * np.mean(scored))
