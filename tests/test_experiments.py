"""The experiment runner end to end at a smoke size: arms train, fine-tune and evaluate as logged runs, shared stages
train once, each finished arm is one index row, reruns skip what is indexed, tables read the index joined to the eval
runs, and plan writes the same graph as the cluster's launch script."""

import re
import shutil
import subprocess
import time
from pathlib import Path

import pytest
import yaml

from prolong import paths
from prolong.config import ConfigError
from prolong.experiments.config import ExperimentSpec, StageSpec
from prolong.experiments.eval_pool import evaluate_all, pool_size
from prolong.experiments.graph import apply_overrides, arm_chain, load_experiment, resolve, resolve_stage
from prolong.experiments.runner import plan_experiment, run_experiment
from prolong.experiments.section import run_section
from prolong.report.tables import Outputs, render_table_id
from prolong.run_table import load_runs
from prolong.runs import Run, iter_runs, read_index
from prolong.tiny import build_tiny
from prolong.train.config import TrainParams
from tests.helpers.markers import integration
from tests.helpers.slurm import fake_cluster

TINY = paths.PARAMS_DIR / "tiny"
TRAIN_JOB = re.compile(r"^(train_\d+)=\$\(submit --nodes (\d+)(?: --dependency=afterok:(\S+))? --job-name (\S+) "
                       r"params/paper/slurm/train\.sbatch (\S+)\)$")
EVAL_JOB = re.compile(r"^(eval_\d+)=\$\(submit(?: --dependency=afterok:(\S+))? --job-name \S+ "
                      r"params/paper/slurm/eval\.sbatch (.+)\)$")


def _train_jobs(commands):
    """The launch script's training jobs: [{var, nodes, after: [vars], name, params}] in order."""
    out = []
    for c in commands:
        if m := TRAIN_JOB.match(c):
            out.append({"var": m[1], "nodes": int(m[2]), "after": [a.lstrip("$") for a in (m[3] or "").split(":") if a],
                        "name": m[4], "params": m[5]})
    return out


def _eval_jobs(commands):
    return [{"var": m[1], "after": [a.lstrip("$") for a in (m[2] or "").split(":") if a], "args": m[3]}
            for c in commands if (m := EVAL_JOB.match(c))]


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
        "train.micro_batch_size": 2, "model.num_layers": 2, "train.init_from": None})  # from scratch, no drills
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
def test_evaluations_side_by_side_equal_one_process(smoke_spec, smoke_store, monkeypatch, tmp_path):
    """The smoke store's four models evaluated again in two copies of the store: in a pool of two spawned one-thread
    workers (the tiny evaluation fixes one thread; prolong.experiments.eval_pool) and one after the other in this
    process; both give the smoke store's outputs and scores."""
    store, rows = smoke_store
    nodes = [n for arm in resolve(smoke_spec).arms for n in (arm.pre_sft_eval, arm.eval)]
    assert pool_size(nodes, cores=2) == 2 and pool_size(nodes, cores=1) == 1
    for workers in (2, 1):
        copy = tmp_path / f"workers{workers}"
        shutil.copytree(store, copy)
        for node in nodes:
            shutil.rmtree(copy / node.ref)
        monkeypatch.setenv("PROLONG_RUNS", str(copy))
        evaluate_all(nodes, log=lambda _m: None, workers=workers)
        for node in nodes:
            assert _outputs(store, node.ref) == _outputs(copy, node.ref) and _outputs(copy, node.ref)[1], node.ref


@integration
def test_plan_and_run_execute_the_same_graph(smoke_spec, smoke_store, monkeypatch, tmp_path):
    """What `plan` launches on the cluster is exactly what `run` trained here: same run names, same params."""
    store, rows = smoke_store
    monkeypatch.setenv("PROLONG_RUNS", str(store))
    # planned with an empty run store: every stage is submitted
    monkeypatch.setenv("PROLONG_RUNS", str(tmp_path / "empty"))
    commands = plan_experiment(smoke_spec, tmp_path, scale="tiny")
    planned = {j["name"]: yaml.safe_load(open(j["params"])) for j in _train_jobs(commands)}
    assert all(Path(j["params"]).stem == j["name"] for j in _train_jobs(commands))
    monkeypatch.setenv("PROLONG_RUNS", str(store))
    trained = {r.name: r.params() for r in iter_runs(store, "train")}
    assert planned == trained
    ran = {ref for r in rows for ref in r["stages"] + [r["sft"]]}
    assert ran == {f"train/{name}" for name in planned}
    # and the arms' evaluations are the graph's
    graph = resolve(smoke_spec)
    assert [(a.eval.ref, a.pre_sft_eval.ref) for a in graph.arms] == [(r["eval"], r["pre_sft_eval"]) for r in rows]


def test_plan_writes_params_and_commands_once_per_shared_stage(smoke_spec, tmp_path):
    commands = plan_experiment(smoke_spec, tmp_path)
    launches = _train_jobs(commands)
    assert len(launches) == 1 + 2 + 2  # base once, then each arm's stage and SFT
    evals = _eval_jobs(commands)
    assert [e["args"] for e in evals] == [f"--scale paper --experiment T20 --arms {a} --seeds 0"
                                          for a in ("no_doc_masks", "doc_masks")]
    assert len(launches) + len(evals) == len(commands)
    assert (tmp_path / "launch.sh").read_text().splitlines()[-len(commands):] == commands
    by_var = {j["var"]: j for j in launches}
    for j in launches:
        params = yaml.safe_load(open(j["params"]).read())
        assert params["name"] == j["name"] and params["experiment"]
        # each job waits for the job of the run it starts from (the base: for nothing)
        start = params["train"].get("init_from")
        assert [f"train/{by_var[v]['name']}" for v in j["after"]] == ([start] if start else [])
    second = yaml.safe_load(open(launches[1]["params"]).read())
    assert second["train"]["init_from"].startswith("train/base-")
    # an arm's evaluation waits for all of its stages' jobs: the shared base, its own stage and its SFT
    assert [[by_var[v]["name"].split("-")[0] for v in e["after"]] for e in evals] == [["base", "extend", "sft"]] * 2


def test_a_mixture_edited_in_place_names_another_run(tmp_path):
    """A stage's run name covers the content of its mixture file, not only its path: editing a proportion gives a new
    run (the logged one is never reused for other data); an edited comment keeps the name."""
    mixture = tmp_path / "mix.yaml"
    mixture.write_text((TINY / "mixtures" / "base.yaml").read_text())
    stage = tmp_path / "base.yaml"
    _stage(TINY / "stages" / "base.yaml", stage, **{"data.mixture": str(mixture)})
    name = resolve_stage(StageSpec(str(stage)), None, None, None).name
    assert resolve_stage(StageSpec(str(stage)), None, None, None).name == name
    mixture.write_text("# a comment\n" + mixture.read_text())
    assert resolve_stage(StageSpec(str(stage)), None, None, None).name == name
    mixture.write_text(mixture.read_text().replace("code_repos@0.15", "code_repos@0.16").replace("books@0.15",
                                                                                                   "books@0.14"))
    assert resolve_stage(StageSpec(str(stage)), None, None, None).name != name


def test_a_regenerated_tiny_world_names_other_runs(tmp_path, monkeypatch):
    """A tiny stage's name covers the tiny world it reads (the generators' version and the parsed corpus params):
    regenerated data trains new runs, never reuses a run made from the old data (the world digest test ties the
    version to the generators' output). A comment in the corpus params keeps the name; a paper-scale stage, which
    reads no tiny data, is named the same under any tiny world."""
    import prolong.tiny.build as tiny_build

    tiny = resolve_stage(StageSpec(str(TINY / "stages" / "stage1.yaml")), None, None, None).name
    paper = resolve_stage(StageSpec(str(paths.PARAMS_DIR / "paper" / "stages" / "stage1.yaml")), None, None, None).name
    original = tiny_build.TINY_CORPUS_PARAMS.read_text()
    corpus = tmp_path / "corpus.yaml"
    corpus.write_text("# a comment\n" + original)
    monkeypatch.setattr(tiny_build, "TINY_CORPUS_PARAMS", corpus)
    assert resolve_stage(StageSpec(str(TINY / "stages" / "stage1.yaml")), None, None, None).name == tiny
    corpus.write_text(original.replace("n_books: 100", "n_books: 101"))
    assert resolve_stage(StageSpec(str(TINY / "stages" / "stage1.yaml")), None, None, None).name != tiny
    corpus.write_text(original)
    monkeypatch.setattr(tiny_build, "GENERATOR_VERSION", tiny_build.GENERATOR_VERSION + 1)
    assert resolve_stage(StageSpec(str(TINY / "stages" / "stage1.yaml")), None, None, None).name != tiny
    assert resolve_stage(StageSpec(str(paths.PARAMS_DIR / "paper" / "stages" / "stage1.yaml")), None, None,
                         None).name == paper


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
        launches = _train_jobs(out[name])
        runs = [e for e in _eval_jobs(out[name]) if e["args"].startswith(f"--scale paper --experiment {name} ")]
        assert launches and len(runs) == len(spec.arms) and len(launches) + len(runs) == len(out[name])
        for job in launches:
            TrainParams.from_yaml(job["params"])
        assert (tmp_path / "launch" / name / "launch.sh").is_file()
    recipe = [yaml.safe_load(open(j["params"])) for j in _train_jobs(out["T10"])]
    assert [r["data"]["seq_len"] for r in recipe] == [65536, 524288, 65536]
    assert recipe[1]["train"]["init_from"] == f"train/{recipe[0]['name']}" and recipe[1]["train"]["load_optimizer"]
    assert recipe[2]["model"]["rope_theta"] == 1.28e8  # SFT keeps Stage 2's theta
    nodes = [j["nodes"] for j in _train_jobs(out["T10"])]
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
    assert script[-len(printed):] == printed and _eval_jobs(printed[-1:])[0]["args"].startswith(
        "--scale paper --experiment T10")
    for command in (["train", "--help"], ["eval", "--help"], ["runs", "migrate", "--help"]):
        with pytest.raises(SystemExit) as exit_:
            cli.main(command)
        assert exit_.value.code == 0
    sbatch = (paths.PARAMS_DIR / "paper" / "slurm" / "train.sbatch").read_text()
    assert "-m prolong.cli train --params" in sbatch  # the cluster runs `prolong train` under accelerate
    eval_sbatch = (paths.PARAMS_DIR / "paper" / "slurm" / "eval.sbatch").read_text()
    assert ".venv/bin/prolong experiment run --no-train" in eval_sbatch  # ... and evaluates with `prolong experiment`


# ---- the paper scale on a fake cluster (tests/helpers/slurm.py) ------------------------------------------------------

def _plan_t10(tmp_path, monkeypatch) -> tuple[Path, list[str]]:
    monkeypatch.setenv("PROLONG_BUILD", str(tmp_path / "build"))
    commands = run_section(["T10"], "paper")["T10"]
    return tmp_path / "build" / "launch" / "T10" / "launch.sh", commands


def _launch(cluster, script, **env):
    return subprocess.run(["bash", str(script)], cwd=cluster.repo, env={**cluster.env, **env}, capture_output=True,
                          text=True, timeout=120)


def test_launch_script_runs_the_recipe_as_chained_jobs(tmp_path, monkeypatch):
    """launch.sh submits everything at once; the fake cluster runs each job when its afterok dependencies are done:
    Stage 1 (8 nodes) -> Stage 2 (16) -> SFT (8), each from the previous one's run, then the evaluation job."""
    script, commands = _plan_t10(tmp_path, monkeypatch)
    cluster = fake_cluster(tmp_path / "cluster")
    out = _launch(cluster, script)
    assert out.returncode == 0, out.stderr
    jobs = cluster.jobs()
    train_jobs = _train_jobs(commands)
    assert [j["state"] for j in jobs] == ["COMPLETED"] * 4, [cluster.job_output(j["id"]) for j in jobs]
    assert [j["script"] for j in jobs] == ["params/paper/slurm/train.sbatch"] * 3 + ["params/paper/slurm/eval.sbatch"]
    assert [j["nodes"] for j in jobs[:3]] == [8, 16, 8]
    assert [j["dependency"] for j in jobs] == [[], [1001], [1002], [1001, 1002, 1003]]
    assert [j["args"] for j in jobs[:3]] == [[t["params"]] for t in train_jobs]
    assert "submitted job 1004: --dependency=afterok:1001:1002:1003" in out.stderr
    lines = cluster.log_lines()
    for job, nodes, t in zip(jobs, (8, 16, 8), train_jobs):     # every node of every training job launched
        mine = [line for line in lines if line.endswith(f"job={job['id']}")]
        assert len(mine) == nodes and all(f"--num_machines {nodes} --num_processes {nodes * 8}" in m for m in mine)
        assert all(f"-m prolong.cli train --params {t['params']} " in m for m in mine)
    [evaluation] = [line for line in lines if line.startswith("prolong ")]
    assert evaluation == ("prolong experiment run --no-train --scale paper --experiment T10 --arms prolong --seeds 0 "
                          "job=1004")


def test_a_failed_job_cancels_the_rest_of_its_chain(tmp_path, monkeypatch):
    script, commands = _plan_t10(tmp_path, monkeypatch)
    cluster = fake_cluster(tmp_path / "cluster")
    stage2 = _train_jobs(commands)[1]
    out = _launch(cluster, script, FAKE_FAIL=stage2["params"])
    assert out.returncode == 0, out.stderr                        # submitting worked; the jobs ran (or not) later
    assert [j["state"] for j in cluster.jobs()] == ["COMPLETED", "FAILED", "CANCELLED", "CANCELLED"]
    lines = cluster.log_lines()
    assert not any(_train_jobs(commands)[2]["params"] in line for line in lines)
    assert not any(line.startswith("prolong ") for line in lines)  # no evaluation of a model that was not trained


def test_launch_script_skips_logged_stages_and_needs_the_repo(tmp_path, monkeypatch):
    monkeypatch.setenv("PROLONG_BUILD", str(tmp_path / "build"))
    stage1 = _train_jobs(run_section(["T10"], "paper")["T10"])[0]
    run = Run.open("train", stage1["name"], yaml.safe_load(open(stage1["params"])))
    (run.path / "model").mkdir()
    run.set_status("done")
    script, commands = _plan_t10(tmp_path, monkeypatch)
    assert commands[0] == f"# train/{stage1['name']}: logged as done, not submitted"
    jobs = _train_jobs(commands)
    assert [j["nodes"] for j in jobs] == [16, 8] and jobs[0]["after"] == [] and jobs[1]["after"] == [jobs[0]["var"]]
    cluster = fake_cluster(tmp_path / "cluster")
    out = subprocess.run(["bash", str(script)], cwd=tmp_path, env=cluster.env, capture_output=True, text=True)
    assert out.returncode == 2 and f"{tmp_path}/params/paper/slurm/train.sbatch not found: run this script from the " \
                                   "repository root" in out.stderr
    assert cluster.jobs() == []


def _helmet_files(root: Path, lengths=(32768, 65536)) -> list[Path]:
    """HELMET's released data/ files the paper evaluation's tasks read at 32K and 64K (prolong/eval/data_layout.md)."""
    kv, rag, rerank = {32768: 440, 65536: 900}, {32768: 220, 65536: 440}, {32768: 285, 65536: 600}
    files = []
    for n in lengths:
        files += [root / f"json_kv/test_k{kv[n]}_dep6.jsonl", root / f"kilt/nq-dev-multikilt_1000_k{rag[n]}_dep6.jsonl",
                  root / f"kilt/hotpotqa-dev-multikilt_1000_k{rag[n]}_dep3.jsonl",
                  root / f"kilt/popqa_test_1000_k{rag[n]}_dep6.jsonl",
                  root / f"msmarco/test_reranking_data_k{rerank[n]}_dep3.jsonl"]
    return files + [root / "kilt/nq-train-multikilt_1000_k3_dep6.jsonl",
                    root / "kilt/hotpotqa-train-multikilt_1000_k3_dep3.jsonl",
                    root / "kilt/popqa_test_1000_k3_dep6.jsonl", root / "msmarco/test_reranking_data_k10_dep3.jsonl"]


def test_paper_evaluation_without_helmet_data_is_an_error_naming_the_file(tmp_path, monkeypatch, capsys):
    """What the evaluation job runs: with the tiny suite (or nothing) where HELMET's data should be, an error naming
    the first missing file before anything runs, never the tiny suite scored under the paper's names; with the data
    in place, a stage not trained is an error naming it (the evaluation job never trains)."""
    from prolong import cli

    helmet = tmp_path / "data" / "helmet"
    monkeypatch.setenv("PROLONG_DATA", str(tmp_path / "data"))
    argv = ["experiment", "run", "--scale", "paper", "--experiment", "T10", "--no-train"]
    assert cli.main(argv) == 2
    assert f"{helmet}/json_kv/test_k440_dep6.jsonl: not found" in capsys.readouterr().err
    (helmet / "rag").mkdir(parents=True)                          # the tiny suite's layout
    (helmet / "rag" / "nq.jsonl").write_text("{}\n")
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert f"{helmet}/json_kv/test_k440_dep6.jsonl: not found" in err and "tiny suite" in err
    files = _helmet_files(helmet)
    for f in files:
        f.parent.mkdir(parents=True, exist_ok=True)
        f.write_text("{}\n")
    files[5].unlink()                                             # json_kv at 64K
    assert cli.main(argv) == 2
    assert f"{files[5]}: json_kv's file for length 65536 not found" in capsys.readouterr().err
    files[5].write_text("{}\n")
    files[-1].unlink()                                            # the re-rank demos
    assert cli.main(argv) == 2
    assert f"{files[-1]}: msmarco_rerank's demo file not found" in capsys.readouterr().err
    files[-1].write_text("{}\n")
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert re.search(r"runs/train/stage1-\w+/model: train/stage1-\w+ is not trained \(an evaluation job does not "
                     r"train", err), err
    trained = paths.runs_dir() / "train"
    assert not trained.exists() or not any(trained.iterdir())    # nothing was trained in the evaluation's place
