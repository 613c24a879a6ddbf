"""HELMET's output format both ways, and aggregation as collect_results computes it (with and without Cite, with
a missing dataset)."""

from __future__ import annotations

import json

import pytest

from prolong.eval import helmet_format as H
from prolong.eval.aggregate import category_scores
from prolong.eval.categories import CATEGORY_PRESETS, HELMET_CATEGORIES, PROLONG_CATEGORIES


def _result(dataset, length, main, per_item, extra=None, chat=False, gen=20):
    data = [{"output": "o", "parsed_output": "p", "input_len": 100 + i, "output_len": 3, "input_text": "t",
             "answer": ["a"], "question": "q", **(extra or {}), "metrics": {main: v, "f1": v / 2}}
            for i, v in enumerate(per_item)]
    return {"args": {"dataset": dataset, "input_max_length": length, "generation_max_length": gen,
                     "use_chat_template": chat, "stop_newline": False, "shots": 2, "seed": 42,
                     "max_test_samples": 100, "num_items": len(per_item)},
            "data": data, "averaged_metrics": {main: 100 * sum(per_item) / len(per_item), "main_metric": main},
            "throughput": {"prefill_s": 1.0, "decode_s": 1.0}, "memory": {"peak_memory_mb": 1.0,
                                                                             "measure": "process_max_rss"}}


def test_helmet_file_names_are_helmets():
    name, out, _ = H.to_helmet(_result("nq", 131072, "substring_exact_match", [1, 0]), "m")
    # configs/rag.yaml at 128K: kilt_nq with data/kilt/nq-dev-multikilt_1000_k1000_dep6.jsonl, generation 20
    assert name == "kilt_nq_eval_nq-dev-multikilt_1000_k1000_dep6_in131072_size100_shots2_sampFalsemax20min0t0.0p1.0" \
                   "_chatFalse_42.json"
    assert H.helmet_names("json_kv", 65536, 100) == ("json_kv", "test_k900_dep6")
    assert H.helmet_names("popqa", 32768, 20) == ("kilt_popqa_3", "popqa_test_1000_k220_dep6")
    assert H.helmet_names("icl_clinc150", 131072, 20) == ("icl_clinic150_7050shot_balance", "")
    assert H.helmet_names("narrativeqa", 131072, 100) == ("narrativeqa_130772", "")
    assert H.helmet_names("multi_lexsum", 131072, 400) == ("multi_lexsum_130372", "")
    assert H.helmet_names("infbench_sum", 131072, 1200) == ("infbench_sum_eng_129672", "")
    assert H.helmet_names("msmarco_rerank", 8192, 200) == ("msmarco_rerank_psg", "test_reranking_data_k50_dep3")
    assert H.helmet_names("alce_asqa", 131072, 300) == ("alce_asqa_700", "asqa_eval_gtr_top2000")
    assert H.helmet_names("ruler_mk_uuid", 8192, 100) == ("ruler_niah_mk_3", "validation_8192")
    assert H.helmet_names("nq", 1024, 20, used=7)[1] == "nq-dev-multikilt_1000_k7_dep6"  # no HELMET file at 1K
    # the keys eval.py writes; flat per-item metrics; averaged x100 except lengths
    assert set(out) == {"args", "data", "metrics", "averaged_metrics", "throughput"}  # memory_usage: CUDA only
    assert out["data"][0]["substring_exact_match"] == 1 and "metrics" not in out["data"][0]
    assert out["metrics"]["input_len"] == [100, 101] and out["averaged_metrics"]["input_len"] == 100.5
    assert out["averaged_metrics"]["substring_exact_match"] == 50.0 and out["throughput"] == 1.0


def test_written_output_round_trips_through_the_reader(tmp_path):
    results = {("json_kv", 8192): _result("json_kv", 8192, "substring_exact_match", [1, 1, 0, 1], gen=100),
               ("nq", 8192): _result("nq", 8192, "substring_exact_match", [1, 0]),
               ("icl_banking77", 8192): _result("icl_banking77", 8192, "exact_match", [0, 1], {"shots": 360}),
               ("narrativeqa", 8192): _result("narrativeqa", 8192, "rougeL_f1", [0.5, 0.5], chat=True, gen=100)}
    judged = results[("narrativeqa", 8192)]
    for d, s in zip(judged["data"], (2 / 3, 1 / 3)):  # fluency x correctness / 3, as the judge writes it
        d["metrics"]["judge_score"] = s
    for res in results.values():
        H.write_helmet(res, tmp_path, "my-model")
    names = sorted(p.name for p in tmp_path.iterdir())
    assert "icl_banking77_360shot_balance_eval__in8192_size100_shots0_sampFalsemax20min0t0.0p1.0_chatFalse_42.json" \
        in names
    assert any(n.endswith("-gpt4eval_o.json") and n.startswith("narrativeqa_7892_") for n in names)
    score = json.loads((tmp_path / [n for n in names if n.startswith("json_kv") and n.endswith(".score")][0])
                       .read_text())
    assert score["substring_exact_match"] == 75.0
    back = H.read_helmet_dir(tmp_path)
    assert set(back) == set(results)
    assert back[("json_kv", 8192)]["averaged_metrics"]["substring_exact_match"] == 75.0
    assert back[("icl_banking77", 8192)]["averaged_metrics"]["main_metric"] == "exact_match"
    # the judge's score, on HELMET's 0-3 scale in the file, read back x100/3 as collect_results does
    assert back[("narrativeqa", 8192)]["averaged_metrics"]["gpt-4-score"] == pytest.approx(50.0)
    tidy = H.helmet_tidy(tmp_path, label="HELMET's code")
    cells = tidy[(tidy.dataset == "") & (tidy.metric.isin(["Recall", "RAG", "ICL", "QA"]))]
    assert dict(zip(cells.metric, cells.value)) == pytest.approx({"Recall": 75.0, "RAG": 50.0, "ICL": 50.0,
                                                                  "QA": 50.0})


def test_reader_names_a_bad_file(tmp_path):
    (tmp_path / "kilt_nq_eval_x_in8192_size100_shots2_sampFalsemax20min0t0.0p1.0_chatFalse_42.json").write_text("{")
    with pytest.raises(ValueError, match="kilt_nq_eval_x"):
        H.read_helmet_dir(tmp_path)


def _res(values: dict[str, float], length=8192):
    mains = {"alce_asqa": "str_em", "alce_qampari": "qampari_rec_top5"}
    out = {}
    for d, v in values.items():
        m = mains.get(d, "m")
        am = {m: v, "main_metric": m}
        if d in mains:
            am.update({"citation_rec": v, "citation_prec": v})
        out[(d, length)] = {"averaged_metrics": am}
    return out


def test_aggregation_with_and_without_cite_and_a_missing_dataset():
    full = {d: 10.0 * (i + 1) for i, d in enumerate(d for ds in HELMET_CATEGORIES.values() for d in ds)}
    scores, report = category_scores(_res(full), CATEGORY_PRESETS["helmet"], [8192])
    cats = {c: sum(full[d] for d in ds) / len(ds) for c, ds in HELMET_CATEGORIES.items()}
    assert {c: scores[c] for c in cats} == pytest.approx(cats)
    assert scores["Avg"] == pytest.approx(sum(cats.values()) / 7) and report["missing"] == []  # 7 with Cite
    # without Cite: six categories, Cite reported missing
    no_cite = {d: v for d, v in full.items() if not d.startswith("alce_")}
    scores, report = category_scores(_res(no_cite), HELMET_CATEGORIES, [8192])
    six = {c: v for c, v in cats.items() if c != "Cite"}
    assert "Cite" not in scores and scores["Avg"] == pytest.approx(sum(six.values()) / 6)
    assert report["lengths"]["8192"]["Avg"]["missing"] == ["Cite"]
    # a dataset missing from a category: the mean of what is there, the missing one named
    part = {d: v for d, v in no_cite.items() if d != "triviaqa"}
    scores, report = category_scores(_res(part), HELMET_CATEGORIES, [8192])
    rag = [part[d] for d in HELMET_CATEGORIES["RAG"] if d in part]
    assert scores["RAG"] == pytest.approx(sum(rag) / 3)
    assert report["lengths"]["8192"]["RAG"]["missing"] == ["triviaqa"] and "triviaqa" in report["missing"]
    # the paper's preset: Recall = JSON KV, RAG without TriviaQA, QA = NarrativeQA, Summ = Multi-LexSum
    scores, report = category_scores(_res(part), PROLONG_CATEGORIES, [8192])
    assert scores["Recall"] == part["json_kv"] and scores["QA"] == part["narrativeqa"]
    assert scores["RAG"] == pytest.approx(sum(rag) / 3) and report["missing"] == []
