"""The CPU extension of a real checkpoint (prolong/experiments/real_extension.py): its params, the theta-only control
model, and the table over seeds. No SmolLM2 needed: a two-layer random Llama stands in for the checkpoint."""

from __future__ import annotations

import json
import math

import pandas as pd
import pytest
import torch
from safetensors.torch import load_file
from transformers import LlamaConfig, LlamaForCausalLM

from prolong import paths
from prolong.config import ConfigError
from prolong.experiments.real_extension import (ExtensionConfig, extension_table, heldout_text, markdown,
                                               stage1_params, theta_only_model, write_outputs)
from prolong.model.length_sweep import sweep_table
from prolong.runs import Run

PARAMS = paths.REPO_ROOT / "params" / "small" / "extension_smollm2.yaml"


def test_shipped_params_judge_stage1_against_theta_alone():
    cfg = ExtensionConfig.from_yaml(PARAMS)
    assert cfg.arms == ["original", "theta_only", "stage1"] and cfg.seeds == [0, 1, 2]
    assert cfg.max_length() == 32768 and cfg.tasks_at[32768] == ["json_kv"]
    assert {"json_kv", "ruler_mk_needle"} <= set(cfg.eval.tasks)      # not the passkey alone (issue 16)
    p = stage1_params(cfg, 2)
    assert p.model.rope_theta == cfg.rope_theta == 1.6e6              # x16 of SmolLM2's 1e5
    assert (p.train.seed, p.data.seed) == (2, 2) and p.model.doc_masking
    assert p.model.pretrained == cfg.model and p.data.seq_len == 4096
    smoke = ExtensionConfig.from_yaml(PARAMS, overrides=["stage1_set=[train.steps=2]"])
    assert stage1_params(smoke, 0).train.steps == 2


def test_bad_params_name_the_field():
    with pytest.raises(ConfigError, match="arms: 'stage2'"):
        ExtensionConfig.from_yaml(PARAMS, overrides=["arms=[original, stage2]"])
    with pytest.raises(ConfigError, match="tasks_at: length 65536"):
        ExtensionConfig.from_yaml(PARAMS, overrides=["tasks_at={65536: [json_kv]}"])
    with pytest.raises(ConfigError, match="past window 16384"):
        ExtensionConfig.from_yaml(PARAMS, overrides=["window=16384"])
    with pytest.raises(ConfigError, match="seeds"):
        ExtensionConfig.from_yaml(PARAMS, overrides=["seeds=[]"])


def test_theta_only_raises_theta_and_trains_nothing(tmp_path):
    src = tmp_path / "ckpt"
    torch.manual_seed(0)
    LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=2,
                                 num_attention_heads=2, num_key_value_heads=1, max_position_embeddings=128,
                                 rope_parameters={"rope_type": "default", "rope_theta": 1e4})).save_pretrained(src)
    before = (src / "config.json").read_text()
    cfg = ExtensionConfig.from_yaml(PARAMS, overrides=[f"model={src}", "name=ext-test", "rope_theta=1.6e5"])
    out = theta_only_model(cfg, log=lambda _: None)
    saved = json.loads((out / "config.json").read_text())
    assert saved["rope_parameters"]["rope_theta"] == saved["rope_theta"] == 1.6e5
    assert saved["max_position_embeddings"] == 32768
    assert (src / "config.json").read_text() == before                  # the checkpoint is untouched
    a, b = load_file(src / "model.safetensors"), load_file(out / "model.safetensors")
    assert a.keys() == b.keys() and all(torch.equal(a[k].float(), b[k].float()) for k in a)
    stamp = (out / "config.json").stat().st_mtime_ns
    assert theta_only_model(cfg, log=lambda _: None) == out and (out / "config.json").stat().st_mtime_ns == stamp


def _sweep(scores: dict[tuple[str, int], float], n: int = 3) -> pd.DataFrame:
    return pd.DataFrame([{"task": t, "length": L, "n": n, "metric": "m", "score": s, "se": 0.0, "input_tokens": 1,
                          "wall_s": 10.0, "run": "eval/x"} for (t, L), s in scores.items()])


def test_table_is_the_mean_and_standard_error_over_seeds():
    per_run = [("original", None, _sweep({("json_kv", 4096): 50.0, ("json_kv", 8192): 0.0})),
               ("stage1", 0, _sweep({("json_kv", 4096): 20.0})),
               ("stage1", 1, _sweep({("json_kv", 4096): 40.0})),
               ("stage1", 2, _sweep({("json_kv", 4096): 60.0}))]
    t = extension_table(per_run)
    s1 = t[(t.arm == "stage1")].iloc[0]
    assert (s1.seeds, s1.n, s1.score) == (3, 3, 40.0)
    assert s1.se == pytest.approx(20.0 / math.sqrt(3))                  # sd 20 over three seeds
    assert s1.wall_s == 30.0
    orig = t[(t.arm == "original") & (t.length == 4096)].iloc[0]
    assert orig.seeds == 1 and math.isnan(orig.se)
    assert list(t[t.length == 4096].arm) == ["original", "stage1"]      # arms in their fixed order
    md = markdown(t)
    assert "**stage1**" in md and "40 ± 12 (3x3)" in md and "50 (3x1)" in md


def test_short_check_is_perplexity_on_held_out_english(tmp_path):
    cfg = ExtensionConfig.from_yaml(PARAMS, overrides=[f"eval.data_dir={tmp_path}"])
    assert "ppl" in cfg.eval.tasks and not {"hellaswag", "arc_challenge"} & set(cfg.eval.tasks)  # no files shipped
    p = heldout_text(cfg)
    rows = [json.loads(line) for line in p.read_text().splitlines()]
    assert p == tmp_path / "ppl" / "python_docs.jsonl" and len(rows) > 50
    assert all(r["text"] and r["source"].startswith("pydoc_data.topics[") for r in rows)
    assert sum(len(r["text"]) >= 4 * cfg.eval.ppl.doc_tokens for r in rows) >= cfg.eval.ppl.max_docs  # enough docs
    stamp = p.stat().st_mtime_ns
    assert heldout_text(cfg) == p and p.stat().st_mtime_ns == stamp  # written once


def test_sweep_table_takes_perplexity_and_the_figure_draws_it(tmp_path):
    run = Run.open("eval", "ext-ppl", {"x": 1}, root=tmp_path)
    run.write_eval("ppl", 1024, {"args": {}, "data": [], "throughput": {},
                                 "averaged_metrics": {"ppl": 12.5, "nll": 2.5, "num_docs": 16, "tokens": 12288}})
    run.write_eval("json_kv", 4096, {"data": [{"metrics": {"substring_exact_match": v}, "input_len": 4000}
                                              for v in (1.0, 0.0)], "throughput": {"wall_s": 5.0},
                                     "averaged_metrics": {"main_metric": "substring_exact_match"}})
    t = sweep_table([run])
    ppl = t[t.task == "ppl"].iloc[0]
    assert (ppl.score, ppl.n, ppl.length, ppl.metric) == (12.5, 16, 1024, "ppl") and math.isnan(ppl.se)
    kv = t[t.task == "json_kv"].iloc[0]
    assert (kv.score, kv.n, kv.input_tokens, kv.wall_s) == (50.0, 2, 8000, 5.0)
    assert kv.se == pytest.approx(50.0)                                  # sd 70.7 over two items
    table = extension_table([("original", None, t), ("stage1", 0, t.assign(score=t.score + 1)),
                             ("stage1", 1, t.assign(score=t.score + 3))])
    assert "12.50 (16x1)" in markdown(table) and "14.50 ± 1.00 (16x2)" in markdown(table)
    write_outputs(table, tmp_path / "out")
    assert (tmp_path / "out" / "recall_vs_length.png").stat().st_size > 0
    assert "ppl" in (tmp_path / "out" / "recall_vs_length.csv").read_text()


def test_readme_shows_the_measured_extension_table():
    readme = (paths.REPO_ROOT / "README.md").read_text()
    begin = "<!-- smollm2-extension: copied from results/smollm2_extension_quick/recall_vs_length.md -->\n"
    block = readme.split(begin)[1].split("<!-- /smollm2-extension -->")[0].strip()
    measured = paths.REPO_ROOT / "results" / "smollm2_extension_quick" / "recall_vs_length.md"
    assert block == measured.read_text().strip()


def test_device_check_params_are_stage1_at_32k_beside_theta_alone():
    from prolong.data.config import MixtureConfig

    cfg = ExtensionConfig.from_yaml(paths.REPO_ROOT / "params" / "small" / "extension_smollm2_gpu.yaml")
    p = stage1_params(cfg, 0)
    assert "theta_only" in cfg.arms and cfg.max_length() == 32768 == p.model.max_position_embeddings
    assert (p.data.seq_len, p.train.steps, p.model.gradient_checkpointing) == (32768, 300, True)
    assert p.train.peak_flops_per_device == 989e12 and p.model.rope_theta == 1.6e6
    mix = MixtureConfig.from_yaml(p.data.mixture_path())
    long = {n: d for n, d in mix.domains.items() if n.endswith("_16k")}
    assert len(long) == 2 and all(d.min_tokens == 16384 for d in long.values())
