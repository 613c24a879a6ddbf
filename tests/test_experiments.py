"""The experiment runner end to end at a smoke size: arms train, fine-tune and evaluate as logged runs, shared stages
train once, reruns skip what is logged, tables read the result runs, and the paper scale plans launch commands."""

import time

import pytest
import yaml

from prolong import paths
from prolong.config import ConfigError
from prolong.experiments.config import ExperimentSpec
from prolong.experiments.runner import apply_overrides, plan_experiment, run_experiment
from prolong.experiments.section import run_section
from prolong.report.tables import Outputs, render_table_id
from prolong.runs import Run, iter_runs, load_runs
from prolong.tiny import build_tiny

TINY = paths.PARAMS_DIR / "tiny"


def _stage(src, dst, **changes):
    data = yaml.safe_load(src.read_text())
    for dotted, value in changes.items():
        section, key = dotted.split(".")
        data[section][key] = value
    dst.write_text(yaml.safe_dump(data))
    return str(dst)


@pytest.fixture(scope="module")
def smoke_spec(tmp_path_factory):
    """A two-arm Table 20 at smoke size: 3-step base at 64 tokens, 2-step arms at 128, 2-step SFT, 2-item eval."""
    build_tiny()  # the tiny tokenizer, stores, eval suite and SFT files the stages read (fast when built)
    d = tmp_path_factory.mktemp("smoke_params")
    base = _stage(TINY / "stages" / "base.yaml", d / "base.yaml", **{
        "data.seq_len": 64, "model.max_position_embeddings": 64, "train.steps": 3, "train.batch_size": 2,
        "train.micro_batch_size": 2, "model.num_layers": 2})
    extend = _stage(TINY / "stages" / "stage1.yaml", d / "extend.yaml", **{
        "data.seq_len": 128, "model.max_position_embeddings": 128, "train.steps": 2, "train.batch_size": 2,
        "train.micro_batch_size": 2, "model.num_layers": 2})
    sft = _stage(TINY / "stages" / "sft.yaml", d / "sft.yaml", **{
        "data.seq_len": 128, "train.steps": 2, "train.batch_size": 2, "train.micro_batch_size": 2,
        "model.num_layers": 2, "train.checkpoint_every": 2})
    ev = yaml.safe_load((TINY / "eval.yaml").read_text())
    ev.update(tasks=["json_kv", "icl_trec_coarse", "ppl"], lengths=[256], num_samples=2, icl_num_samples=2,
              categories={"Recall": ["json_kv"], "ICL": ["icl_trec_coarse"]},
              ppl={"doc_tokens": 256, "tail_tokens": 128, "file": "ppl/pg19.jsonl", "max_docs": 1, "chunk": 256})
    (d / "eval.yaml").write_text(yaml.safe_dump(ev))
    spec = {
        "experiment": "T20", "description": "smoke", "base": [{"params": base, "seeded": False}],
        "sft": {"params": sft}, "eval": {"params": str(d / "eval.yaml")},
        "pre_sft_eval": {"params": str(d / "eval.yaml"), "set": {"tasks": ["ppl"]}},
        "arms": [
            {"name": "no_doc_masks", "label": "No doc masks", "stages": [{"params": extend, "set": {"model.doc_masking": False}}]},
            {"name": "doc_masks", "label": "Document masks", "stages": [{"params": extend}], "x": 1.0},
        ],
    }
    path = d / "T20.yaml"
    path.write_text(yaml.safe_dump(spec))
    return ExperimentSpec.from_yaml(path)


@pytest.fixture(scope="module")
def smoke_store(smoke_spec, tmp_path_factory):
    store = tmp_path_factory.mktemp("smoke_runs")
    mp = pytest.MonkeyPatch()
    mp.setenv("PROLONG_RUNS", str(store))
    results = run_experiment(smoke_spec, log=lambda _m: None)
    yield store, results
    mp.undo()


@pytest.mark.slow
def test_arms_are_logged_runs_with_shared_stages(smoke_store, monkeypatch):
    store, results = smoke_store
    monkeypatch.setenv("PROLONG_RUNS", str(store))
    assert [r.name for r in results] == ["no_doc_masks-s0", "doc_masks-s0"]
    by_exp = {}
    for run in iter_runs(store):
        by_exp.setdefault(run.experiment, []).append(run)
        assert run.is_done(), run.path
    assert len(by_exp["base"]) == 1          # the base model is shared by both arms
    assert len(by_exp["stage1"]) == 2        # one continued-training run per arm
    assert len(by_exp["sft"]) == 2
    assert len(by_exp["T20.pre_sft"]) == 2
    masked = by_exp["stage1"][0].params()["model"]["doc_masking"], by_exp["stage1"][1].params()["model"]["doc_masking"]
    assert sorted(masked) == [False, True]
    scores = results[1].scores()
    assert {"Recall", "ICL", "Avg", "PPL", "train_tokens", "x"} <= set(scores)
    assert scores["train_tokens"] == 2 * 2 * 128  # the arm's own stage: 2 steps x 2 sequences x 128 tokens


@pytest.mark.slow
def test_rerun_skips_logged_and_tables_read_results(smoke_spec, smoke_store, monkeypatch, tmp_path):
    store, _ = smoke_store
    monkeypatch.setenv("PROLONG_RUNS", str(store))
    before = sorted(p.name for p in store.glob("*/*"))
    t0 = time.perf_counter()
    again = run_experiment(smoke_spec, log=lambda _m: None)
    assert time.perf_counter() - t0 < 5 and [r.name for r in again] == ["no_doc_masks-s0", "doc_masks-s0"]
    assert sorted(p.name for p in store.glob("*/*")) == before
    out = Outputs(tmp_path / "tables", tmp_path)
    render_table_id("T20", load_runs(["paper", "runs"], experiments=["T20"]), out)
    lines = (tmp_path / "tables" / "T20.runs.csv").read_text().splitlines()
    assert lines[0] == "attention,Recall,RAG,Re-rank,ICL,QA,Summ,Avg,Short Avg"
    assert [line.split(",")[0] for line in lines[1:]] == ["No doc masks", "Document masks"]
    assert (tmp_path / "T20.png").is_file()


def test_plan_writes_params_and_commands_once_per_shared_stage(smoke_spec, tmp_path):
    commands = plan_experiment(smoke_spec, tmp_path)
    launches = [c for c in commands if c.startswith("sbatch")]
    assert len(launches) == 1 + 2 + 2  # base once, then each arm's stage and SFT
    assert sum(c.startswith("python -m prolong.experiments run") for c in commands) == 2
    for c in launches:
        params = yaml.safe_load(open(c.split()[-1]).read())
        assert params["name"] and params["experiment"]
    second = yaml.safe_load(open(launches[1].split()[-1]).read())
    assert second["train"]["init_from"].startswith("base/")


def test_bad_experiment_input_is_named(smoke_spec):
    with pytest.raises(ConfigError, match=r"unknown arm 'nope'.*arms: no_doc_masks, doc_masks"):
        smoke_spec.select(["nope"])
    with pytest.raises(ConfigError, match=r"x\.yaml: override 'model\.rope_thta': no key 'rope_thta'"):
        apply_overrides({"model": {"rope_theta": 1.0}}, {"model.rope_thta": 2.0}, "x.yaml")
    with pytest.raises(ConfigError, match="unknown arm 'nope' for experiments T04"):
        run_section(["T04"], "tiny", arms=["nope"])


def test_every_tiny_experiment_file_resolves():
    from prolong.experiments.runner import arm_chain, load_experiment
    from prolong.train.config import TrainParams

    for path in sorted((TINY / "experiments").glob("*.yaml")):
        spec = load_experiment("tiny", path.stem)
        for arm in spec.arms:
            chain, sft = arm_chain(spec, arm, 0, None)
            for stage in chain + ([sft] if sft else []):
                TrainParams.from_dict(stage.params, stage.source)  # every override lands on a real key


def test_paper_scale_plans_every_experiment(tmp_path, monkeypatch):
    """At the paper scale the notebooks write params and launch commands; every stage resolves to valid params."""
    from prolong.experiments.runner import load_experiment
    from prolong.train.config import TrainParams

    monkeypatch.setenv("PROLONG_BUILD", str(tmp_path))
    names = sorted(p.stem for p in (paths.PARAMS_DIR / "paper" / "experiments").glob("*.yaml"))
    assert {"T04", "T10", "T18", "T20", "fig3"} <= set(names)
    out = run_section(names, "paper")
    for name in names:
        spec = load_experiment("paper", name)
        launches = [c for c in out[name] if c.startswith("sbatch")]
        runs = [c for c in out[name] if c.startswith("python -m prolong.experiments run --scale paper")]
        assert launches and len(runs) == len(spec.arms)
        for command in launches:
            path = command.split()[-1]
            TrainParams.from_yaml(path)
        assert (tmp_path / "launch" / name / "launch.sh").is_file()
    recipe = [yaml.safe_load(open(c.split()[-1])) for c in out["T10"] if c.startswith("sbatch")]
    assert [r["data"]["seq_len"] for r in recipe] == [65536, 524288, 65536]
    assert recipe[1]["train"]["init_from"] == f"stage1/{recipe[0]['name']}" and recipe[1]["train"]["load_optimizer"]
    assert recipe[2]["model"]["rope_theta"] == 1.28e8  # SFT keeps Stage 2's theta
    nodes = [int(c.split("--nodes ")[1].split()[0]) for c in out["T10"] if c.startswith("sbatch")]
    assert nodes == [8, 16, 8]  # 64 GPUs at 64K; 16 sequences x 8-way sequence parallelism at 512K


@pytest.mark.slow
def test_throughput_table_is_logged(smoke_spec, tmp_path, monkeypatch):
    from prolong.experiments.throughput import log_throughput

    monkeypatch.setenv("PROLONG_RUNS", str(tmp_path / "runs"))
    extend = smoke_spec.arms[1].stages[0].params
    runs = log_throughput(extend, steps=3, batch_size=4, micro_batch_size=2, log=lambda _m: None)
    assert [r.name for r in runs] == ["full_attention", "variable_length", "reordering"]
    assert all(r.scores()["tokens_per_s_per_gpu"] > 0 for r in runs) and "change" in runs[2].scores()
    stages = [Run.params(r)["stage"] for r in runs]
    assert len(set(stages)) == 3  # three separately trained settings
    out = Outputs(tmp_path / "tables", tmp_path)
    render_table_id("T15", load_runs(["paper", "runs"], experiments=["T15"]), out)
    lines = (tmp_path / "tables" / "T15.runs.csv").read_text().splitlines()
    assert lines[0] == "setting,tokens_per_s_per_gpu,change" and lines[1].startswith("128 full attention")
