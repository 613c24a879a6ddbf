"""`--data-dir` laid out as HELMET's released data/: its per-length files, gold passages kept when only another
length's file is there, a missing file named with its task, and `prolong eval` writing both output layouts."""

from __future__ import annotations

import argparse
import json
import random

import pytest

from prolong.eval import cli
from prolong.eval.tasks import rag, recall
from prolong.runs import Run


def _write(path, rows):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def _kilt_rows(n, k, gold_at, rng):
    rows = []
    for i in range(n):
        ctxs = [{"title": f"T{j}", "text": f"passage {j} of {i} {rng.random():.4f}", "has_answer": j == gold_at}
                for j in range(k)]
        ctxs[gold_at]["text"] += f" answer{i}"
        rows.append({"id": f"q{i}", "question": f"question {i}?", "answers": [f"answer{i}"], "ctxs": ctxs})
    return rows


def _helmet_data(root):
    rng = random.Random(0)
    _write(root / "kilt" / "nq-dev-multikilt_1000_k50_dep6.jsonl", _kilt_rows(6, 50, 49, rng))
    _write(root / "kilt" / "nq-train-multikilt_1000_k3_dep6.jsonl", _kilt_rows(6, 3, 2, rng))
    pairs = [("k1", "v1"), ("k2", "v2"), ("k3", "v3")]
    _write(root / "json_kv" / "test_k105_dep6.jsonl",
           [{"context": recall.json_kv_context(pairs), "question": '"k2"', "answer": "v2", "demos": [["k1", "v1"]],
             "num_kvs": 3}] * 3)
    return root


def test_helmet_layout_files_gold_kept_and_missing_named(tmp_path, bpe_tokenizer):
    root = _helmet_data(tmp_path)
    test, demo = rag.helmet_rag_files("nq", root, 8192)
    assert test.name == "nq-dev-multikilt_1000_k50_dep6.jsonl" and demo.name == "nq-train-multikilt_1000_k3_dep6.jsonl"
    # 4K: HELMET's k20 file is absent, the k50 one is cut to 20 passages keeping the gold at position 49
    test, demo = rag.helmet_rag_files("nq", root, 4096)
    spec, items = rag.rag("nq", test, bpe_tokenizer, 4096, 3, count=20, demo_path=demo)
    for it in items:
        assert it.fields["context"].count("Document (Title:") == 20 and it.answers[0] in it.fields["context"]
        assert it.fields["demos"].count("Document (Title:") == 2 * 3  # HELMET's demos keep all their passages
    with pytest.raises(FileNotFoundError, match=r"hotpotqa-dev-multikilt_1000_k50_dep3\.jsonl: hotpotqa"):
        rag.helmet_rag_files("hotpotqa", root, 8192)


def test_prolong_eval_on_helmet_data_writes_both_layouts(tmp_path, bpe_tokenizer, make_llama):
    model_dir = tmp_path / "model"
    make_llama(len(bpe_tokenizer)).save_pretrained(model_dir)
    bpe_tokenizer.save_pretrained(model_dir)
    root = _helmet_data(tmp_path / "data")
    params = tmp_path / "eval.yaml"
    params.write_text("num_samples: 2\ndtype: float32\nmax_new_tokens: {json_kv: 4, nq: 4}\nprefill_chunk: 4096\n")
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    args = parser.parse_args(["--model", str(model_dir), "--params", str(params), "--tasks", "json_kv,nq",
                              "--lengths", "8192", "--data-dir", str(root)])
    assert cli.main(args) == 0
    run = Run.open("eval", cli.run_name(args, {"model": str(model_dir.resolve()),
                                               "eval": cli.resolve_config(args).to_dict()}),
                   {"model": str(model_dir.resolve()), "eval": cli.resolve_config(args).to_dict()})
    assert {(d, n) for d, n, _ in run.evals()} == {("json_kv", 8192), ("nq", 8192)}
    names = sorted(p.name for p in (run.path / "helmet").iterdir())
    assert names == [
        "json_kv_eval_test_k105_dep6_in8192_size2_shots2_sampFalsemax4min0t0.0p1.0_chatFalse_42.json",
        "json_kv_eval_test_k105_dep6_in8192_size2_shots2_sampFalsemax4min0t0.0p1.0_chatFalse_42.json.score",
        "kilt_nq_eval_nq-dev-multikilt_1000_k50_dep6_in8192_size2_shots2_sampFalsemax4min0t0.0p1.0_chatFalse_42.json",
        "kilt_nq_eval_nq-dev-multikilt_1000_k50_dep6_in8192_size2_shots2_sampFalsemax4min0t0.0p1.0_chatFalse_42.json"
        ".score"]
    out = json.loads((run.path / "helmet" / names[0]).read_text())
    assert out["args"]["stop_newline"] is False and out["data"][0]["question"] == '"k2"'
    # a missing file of the HELMET layout is an error naming the file and the task (no fallback to the tiny suite)
    args = parser.parse_args(["--model", str(model_dir), "--params", str(params), "--tasks", "hotpotqa",
                              "--lengths", "8192", "--data-dir", str(root)])
    with pytest.raises(FileNotFoundError, match="hotpotqa"):
        cli.main(args)
