"""The experiment runner end to end at a smoke size: arms train, fine-tune and evaluate as logged runs, shared stages
train once, each finished arm is one index row, reruns skip what is indexed, tables read the index joined to the eval
runs, and plan writes the same graph as the cluster's launch script."""

import time

import pytest
import yaml

from prolong import paths
from prolong.config import ConfigError
from prolong.experiments.config import ExperimentSpec
from prolong.experiments.graph import apply_overrides, arm_chain, load_experiment, resolve
from prolong.experiments.runner import plan_experiment, run_experiment
from prolong.experiments.section import run_section
from prolong.report.tables import Outputs, render_table_id
from prolong.run_table import load_runs
from prolong.runs import Run, iter_runs, read_index
from prolong.tiny import build_tiny
from prolong.train.config import TrainParams
from tests.helpers.markers import integration

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


@integration
def test_arms_are_logged_runs_with_shared_stages(smoke_store, monkeypatch):
    store, rows = smoke_store
    monkeypatch.setenv("PROLONG_RUNS", str(store))
    assert [(r["arm"], r["seed"]) for r in rows] == [("no_doc_masks", 0), ("doc_masks", 0)]
    assert sorted(p.name for p in store.iterdir()) == ["eval", "index.jsonl", "train"]  # two kinds of runs, one index
    by_stage = {}
    for run in iter_runs(store, "train"):
        by_stage.setdefault(run.name.rsplit("-", 1)[0], []).append(run)
        assert run.is_done(), run.path
    assert len(by_stage["base"]) == 1         # the base model is shared by both arms
    assert len(by_stage["extend"]) == 2       # one continued-training run per arm
    assert len(by_stage["sft"]) == 2
    assert len(iter_runs(store, "eval")) == 4  # per arm: after SFT, and before SFT (pre_sft_eval)
    masked = [r.params()["model"]["doc_masking"] for r in by_stage["extend"]]
    assert sorted(masked) == [False, True]
    index = read_index(store)
    assert index == rows and all(Run.at(r["eval"]).is_done() and Run.at(r["pre_sft_eval"]).is_done() for r in rows)
    assert rows[1]["scores"] == {"train_tokens": 2 * 2 * 128, "x": 1.0}  # 2 steps x 2 sequences x 128 tokens
    tidy = load_runs(["runs"], experiments=["T20"])
    final = tidy[(tidy.run == "doc_masks-s0") & (tidy.dataset == "") & (tidy.phase == "final")]
    assert {"Recall", "ICL", "Avg", "PPL", "train_tokens", "x"} <= set(final.metric)
    # every cell names the run it came from: the arm's evaluation, or its own training stage for its scores
    assert set(final[final.metric == "Recall"].runs) == {rows[1]["eval"]}
    assert set(final[final.metric == "train_tokens"].runs) == {rows[1]["stages"][-1]}
    pre = tidy[(tidy.run == "doc_masks-s0") & (tidy.phase == "pre_sft") & (tidy.dataset == "")]
    assert set(pre.runs) - {rows[1]["stages"][-1]} == {rows[1]["pre_sft_eval"]}


@integration
def test_rerun_skips_indexed_and_tables_read_the_index(smoke_spec, smoke_store, monkeypatch, tmp_path):
    store, _ = smoke_store
    monkeypatch.setenv("PROLONG_RUNS", str(store))
    before = sorted(p.name for p in store.glob("*/*")), (store / "index.jsonl").read_text()
    t0 = time.perf_counter()
    again = run_experiment(smoke_spec, log=lambda _m: None)
    assert time.perf_counter() - t0 < 5 and [r["arm"] for r in again] == ["no_doc_masks", "doc_masks"]
    assert (sorted(p.name for p in store.glob("*/*")), (store / "index.jsonl").read_text()) == before
    out = Outputs(tmp_path / "tables", tmp_path)
    render_table_id("T20", load_runs(["paper", "runs"], experiments=["T20"]), out)
    lines = (tmp_path / "tables" / "T20.runs.csv").read_text().splitlines()
    assert lines[0].startswith("attention,Recall,RAG,Re-rank,ICL,QA,Summ,Avg,Short Avg,seeds,Recall SE")
    assert [line.split(",")[0] for line in lines[1:]] == ["No doc masks", "Document masks"]
    assert (tmp_path / "T20.png").is_file()


TIMING = {"tokens_per_s", "step_time_s", "elapsed_s", "peak_mem_gib", "mfu"}  # the only fields allowed to differ


def _log(store, ref):
    return [{k: v for k, v in rec.items() if k not in TIMING} for rec in Run(store / ref).train_log().to_dict("records")]


def _outputs(store, ref):
    return Run(store / ref).scores(), [(d, n, [(x["output"], x.get("parsed_output")) for x in res["data"]])
                                       for d, n, res in Run(store / ref).evals()]


@integration
def test_an_arm_run_twice_gives_identical_logs_and_scores(smoke_spec, smoke_store, monkeypatch, tmp_path):
    """The same commit, params and seed: a second store trains and evaluates the arm to the same bits (losses, grad
    norms, token counts, every evaluation output and score); only timings differ."""
    store, rows = smoke_store
    again_store = tmp_path / "again"
    monkeypatch.setenv("PROLONG_RUNS", str(again_store))
    [again] = run_experiment(smoke_spec, arms=["doc_masks"], log=lambda _m: None)
    [first] = [r for r in rows if r["arm"] == "doc_masks"]
    keys = ("stages", "sft", "eval", "pre_sft_eval", "scores")
    assert {k: again[k] for k in keys} == {k: first[k] for k in keys}
    for ref in first["stages"] + [first["sft"]]:
        assert _log(store, ref) == _log(again_store, ref) and _log(store, ref), ref
    for ref in (first["eval"], first["pre_sft_eval"]):
        assert _outputs(store, ref) == _outputs(again_store, ref), ref


@integration
def test_plan_and_run_execute_the_same_graph(smoke_spec, smoke_store, monkeypatch, tmp_path):
    """What `plan` launches on the cluster is exactly what `run` trained here: same run names, same params."""
    store, rows = smoke_store
    monkeypatch.setenv("PROLONG_RUNS", str(store))
    commands = plan_experiment(smoke_spec, tmp_path, scale="tiny")
    planned = {c.split()[-1].rsplit("/", 1)[-1][: -len(".yaml")]: yaml.safe_load(open(c.split()[-1]))
               for c in commands if c.startswith("sbatch")}
    trained = {r.name: r.params() for r in iter_runs(store, "train")}
    assert planned == trained
    ran = {ref for r in rows for ref in r["stages"] + [r["sft"]]}
    assert ran == {f"train/{name}" for name in planned}
    # and the arms' evaluations are the graph's
    graph = resolve(smoke_spec)
    assert [(a.eval.ref, a.pre_sft_eval.ref) for a in graph.arms] == [(r["eval"], r["pre_sft_eval"]) for r in rows]


def test_plan_writes_params_and_commands_once_per_shared_stage(smoke_spec, tmp_path):
    commands = plan_experiment(smoke_spec, tmp_path)
    launches = [c for c in commands if c.startswith("sbatch")]
    assert len(launches) == 1 + 2 + 2  # base once, then each arm's stage and SFT
    assert sum(c.startswith("prolong experiment run --scale paper --experiment T20") for c in commands) == 2
    assert (tmp_path / "launch.sh").read_text().splitlines()[3:] == commands
    for c in launches:
        params = yaml.safe_load(open(c.split()[-1]).read())
        assert params["name"] and params["experiment"]
    second = yaml.safe_load(open(launches[1].split()[-1]).read())
    assert second["train"]["init_from"].startswith("train/base-")


def test_bad_experiment_input_is_named(smoke_spec):
    with pytest.raises(ConfigError, match=r"unknown arm 'nope'.*arms: no_doc_masks, doc_masks"):
        smoke_spec.select(["nope"])
    with pytest.raises(ConfigError, match=r"x\.yaml: override 'model\.rope_thta': no key 'rope_thta'"):
        apply_overrides({"model": {"rope_theta": 1.0}}, {"model.rope_thta": 2.0}, "x.yaml")
    with pytest.raises(ConfigError, match="unknown arm 'nope' for experiments T04"):
        run_section(["T04"], "tiny", arms=["nope"])


def test_every_tiny_experiment_file_resolves():
    for path in sorted((TINY / "experiments").glob("*.yaml")):
        spec = load_experiment("tiny", path.stem)
        for arm in spec.arms:
            chain, sft = arm_chain(spec, arm, 0, None)
            for stage in chain + ([sft] if sft else []):
                TrainParams.from_dict(stage.params, stage.source)  # every override lands on a real key
                assert stage.params["name"] == stage.name


def test_paper_scale_plans_every_experiment(tmp_path, monkeypatch):
    """At the paper scale the notebooks write params and launch commands; every stage resolves to valid params."""
    monkeypatch.setenv("PROLONG_BUILD", str(tmp_path))
    names = sorted(p.stem for p in (paths.PARAMS_DIR / "paper" / "experiments").glob("*.yaml"))
    assert {"T04", "T10", "T18", "T20", "fig3"} <= set(names)
    out = run_section(names, "paper")
    for name in names:
        spec = load_experiment("paper", name)
        launches = [c for c in out[name] if c.startswith("sbatch")]
        runs = [c for c in out[name] if c.startswith("prolong experiment run --scale paper")]
        assert launches and len(runs) == len(spec.arms)
        for command in launches:
            path = command.split()[-1]
            TrainParams.from_yaml(path)
        assert (tmp_path / "launch" / name / "launch.sh").is_file()
    recipe = [yaml.safe_load(open(c.split()[-1])) for c in out["T10"] if c.startswith("sbatch")]
    assert [r["data"]["seq_len"] for r in recipe] == [65536, 524288, 65536]
    assert recipe[1]["train"]["init_from"] == f"train/{recipe[0]['name']}" and recipe[1]["train"]["load_optimizer"]
    assert recipe[2]["model"]["rope_theta"] == 1.28e8  # SFT keeps Stage 2's theta
    nodes = [int(c.split("--nodes ")[1].split()[0]) for c in out["T10"] if c.startswith("sbatch")]
    assert nodes == [8, 16, 8]  # 64 GPUs at 64K; 16 sequences x 8-way sequence parallelism at 512K


@integration
def test_throughput_is_an_ordinary_experiment_read_from_the_training_log(smoke_spec, tmp_path, monkeypatch):
    monkeypatch.setenv("PROLONG_RUNS", str(tmp_path / "runs"))
    tiny = load_experiment("tiny", "T15")
    extend = smoke_spec.arms[1].stages[0].params
    spec = ExperimentSpec.from_dict({**tiny.to_dict(), "arms": [
        {**a.to_dict(), "stages": [{"params": extend, "seeded": True, "set": {
            **{k: v for k, v in a.stages[0].set.items() if k != "train.steps"}, "train.checkpoint_every": 3}}]}
        for a in tiny.arms]})
    rows = run_experiment(spec, steps=3, log=lambda _m: None)
    assert [r["arm"] for r in rows] == ["full_attention", "variable_length", "reordering"]
    assert all(r["eval"] is None and r["scores"]["tokens_per_s_per_gpu"] > 0 for r in rows)
    assert len({r["stages"][0] for r in rows}) == 3  # three separately trained settings
    log = Run.at(rows[2]["stages"][0]).train_log()
    assert rows[2]["scores"]["tokens_per_s_per_gpu"] == float(log["tokens_per_s"].iloc[1:].median())
    out = Outputs(tmp_path / "tables", tmp_path)
    tidy = load_runs(["paper", "runs"], experiments=["T15"])
    assert set(tidy[tidy.source == "runs"].runs) == {r["stages"][0] for r in rows}
    render_table_id("T15", tidy, out)
    lines = (tmp_path / "tables" / "T15.runs.csv").read_text().splitlines()
    assert lines[0].startswith("setting,tokens_per_s_per_gpu,change,seeds") and lines[1].startswith("1K full attention")
    assert all(line.split(",")[2] for line in lines[2:]) and not lines[1].split(",")[2]


def test_every_entry_point_is_a_prolong_subcommand(tmp_path, monkeypatch, capsys):
    from prolong import cli

    monkeypatch.setenv("PROLONG_BUILD", str(tmp_path))
    assert cli.main(["experiment", "plan", "--scale", "paper", "--experiment", "T10"]) == 0
    printed = capsys.readouterr().out.splitlines()
    script = (tmp_path / "launch" / "T10" / "launch.sh").read_text().splitlines()
    assert script[3:] == printed and printed[-1].startswith("prolong experiment run --scale paper --experiment T10")
    for command in (["train", "--help"], ["eval", "--help"], ["runs", "migrate", "--help"]):
        with pytest.raises(SystemExit) as exit_:
            cli.main(command)
        assert exit_.value.code == 0
    sbatch = (paths.PARAMS_DIR / "paper" / "slurm" / "train.sbatch").read_text()
    assert "-m prolong.cli train --params" in sbatch  # the cluster runs `prolong train` under accelerate
