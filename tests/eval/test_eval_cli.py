import argparse
import json

from prolong.eval import cli
from prolong.tiny.eval_suite import write_tiny_suite
from prolong.run_table import runs_table
from prolong.runs import Run, read_index


def test_cli_evaluates_a_saved_model_and_logs_the_run(tmp_path, bpe_tokenizer, make_llama):
    model_dir = tmp_path / "model"
    make_llama(len(bpe_tokenizer)).save_pretrained(model_dir)
    bpe_tokenizer.save_pretrained(model_dir)
    data = write_tiny_suite(tmp_path / "helmet", n_items=3, n_sent=150, ppl_docs=1, ppl_words=900)
    params = tmp_path / "eval.yaml"
    params.write_text("num_samples: 2\nicl_num_samples: 2\ndtype: float32\nmax_new_tokens: {msmarco_rerank: 20, "
                      "narrativeqa: 10, multi_lexsum: 12, json_kv: 10}\nlongdoc_min_tokens: {}\n"
                      "ppl: {doc_tokens: 512, tail_tokens: 256, max_docs: 1, chunk: 128}\n"
                      "short: {max_samples: 2, gsm8k_max_new_tokens: 8, num_fewshot: {gsm8k: 1}}\n")
    parser = argparse.ArgumentParser()
    cli.add_arguments(parser)
    tasks = "json_kv,ruler_mk_needle,niah_passkey,nq,msmarco_rerank,icl_trec_coarse,narrativeqa,multi_lexsum,ppl,mmlu,gsm8k"
    args = parser.parse_args(["--model", str(model_dir), "--params", str(params), "--tasks", tasks,
                              "--lengths", "512,768", "--experiment", "T04", "--arm", "tiny", "--label", "Tiny",
                              "--data-dir", str(data)])
    assert cli.main(args) == 0
    params = {"model": str(model_dir.resolve()), "eval": cli.resolve_config(args).to_dict()}
    run = Run.open("eval", cli.run_name(args, params), params)
    assert run.is_done() and run.name.startswith(model_dir.parent.name + "-")  # runs/train/<run>/model -> <run>-<fp>
    row = read_index()[0]
    assert (row["experiment"], row["arm"], row["label"], row["eval"]) == ("T04", "tiny", "Tiny", run.ref)
    names = {(d, L) for d, L, _ in run.evals()}
    assert ("json_kv", 512) in names and ("narrativeqa", 768) in names and ("gsm8k", 0) in names
    res = json.loads((run.path / "eval" / "json_kv__512.json").read_text())
    assert set(res) >= {"args", "data", "averaged_metrics", "throughput", "memory"}
    item = res["data"][0]
    assert set(item) >= {"output", "parsed_output", "input_len", "metrics"} and item["input_len"] <= 512 - 10
    assert res["averaged_metrics"]["main_metric"] == "substring_exact_match"
    scores = run.scores()
    for col in ("Recall", "Re-rank", "QA", "Summ", "NIAH", "PPL", "MMLU", "GSM8K", "Recall@512"):
        assert col in scores, col
    # HELMET's preset (the default): RAG is NQ + TriviaQA + HotpotQA + PopQA; with NQ alone the category is NQ's
    # score, as collect_results' mean of what is there, and the run names what it lacks
    rep = json.loads((run.path / "categories.json").read_text())
    assert rep["preset"] == "helmet" and abs(scores["RAG"] - (scores["RAG@512"] + scores["RAG@768"]) / 2) < 1e-9
    rag = rep["lengths"]["512"]["RAG"]
    assert set(rag["columns"]) == {"nq substring_exact_match"} and rag["missing"] == ["triviaqa", "hotpotqa", "popqa"]
    assert "Cite" in rep["lengths"]["512"]["Avg"]["missing"] and "Avg" in scores
    # every result also under HELMET's own file name, with its .score
    helmet = {p.name for p in (run.path / "helmet").iterdir()}
    assert "kilt_nq_eval_nq-dev-multikilt_1000_k20_dep6_in512_size2_shots2_sampFalsemax20min0t0.0p1.0_chatFalse_42.json" \
        not in helmet  # 512 is no HELMET length: the file names the passages the run used
    assert any(n.startswith("kilt_nq_eval_nq-dev-multikilt_1000_k") and n.endswith("_in512_size2_shots2_sampFalse"
                                                                               "max20min0t0.0p1.0_chatFalse_42.json")
               for n in helmet)
    assert any(n.startswith("icl_trec_coarse_") and "shot_balance_eval__in768_size2_shots0_" in n for n in helmet)
    assert sum(n.endswith(".score") for n in helmet) == sum(n.endswith(".json") for n in helmet)
    qa = json.loads((run.path / "eval" / "narrativeqa__512.json").read_text())
    assert qa["averaged_metrics"]["main_metric"] == "rougeL_f1"  # no judge: ROUGE-L under its own name
    assert not runs_table().empty
