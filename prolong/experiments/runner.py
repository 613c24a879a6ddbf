"""The two executors of an experiment's graph (prolong.experiments.graph): run it here, or plan it for the cluster.

`run_graph` trains every stage that is not logged, then evaluates every model that is not evaluated (side by side
where the CPU allows: prolong.experiments.eval_pool), and appends one index row per finished arm (runs/index.jsonl); an arm already indexed with the same runs is skipped, so a rerun costs
only the resolution. `plan_graph` writes the same stages' params and the launch script, which submits the whole
graph at once as chained Slurm jobs: one per training run (each once, after the job of the run it starts from:
`--dependency=afterok`), then per arm an evaluation job after its stages' jobs, running `prolong experiment run
--no-train`, which finds every stage logged and only evaluates and indexes the arm, exactly as the tiny scale does.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import yaml

from prolong import paths
from prolong.eval.config import EvalConfig
from prolong.experiments.config import ExperimentSpec
from prolong.experiments.eval_data import require_helmet_data
from prolong.experiments.eval_pool import evaluate_all
from prolong.experiments.graph import ArmNode, Graph, StageNode, resolve
from prolong.experiments.shipped_base import install_shipped_base
from prolong.io import atomic_write_text
from prolong.runs import MODEL_DIR, Run, append_index, read_index
from prolong.train.loop import train


def stage_done(stage: StageNode) -> bool:
    run = Run.at(stage.ref)
    return (run.path / MODEL_DIR).is_dir() and run.is_done()


class StageNotTrainedError(FileNotFoundError):
    """An evaluation job found a stage of its arm not trained (`--no-train`: it never trains in its place)."""


def train_stage(stage: StageNode, log=print, train_missing: bool = True) -> None:
    """Train (or resume) one stage in this process unless it is already logged as done; with `train_missing` false a
    stage not logged as done is an error naming its run."""
    if stage_done(stage):
        log(f"  = {stage.ref} (logged)")
        return
    if not train_missing:
        run = Run.at(stage.ref)
        raise StageNotTrainedError(
            f"{run.path / MODEL_DIR}: {stage.ref} is not trained (an evaluation job does not train; its training job "
            f"has to finish first: sbatch params/paper/slurm/train.sbatch with the stage's params)")
    t0 = time.perf_counter()
    run = train(stage.train_params(), run_name=stage.name)
    run.set_status("done")
    log(f"  + {stage.ref} ({time.perf_counter() - t0:.0f}s)")


def stages_to_train(stages: list[StageNode], log=print) -> list[StageNode]:
    """The stages of one arm's chain still to train: those after the last one logged as done (each stage only feeds
    the next, so a run store holding the finished tiny base, e.g. copied from another machine, never needs the drill
    stages before it)."""
    for i in range(len(stages) - 1, -1, -1):
        if stage_done(stages[i]):
            log(f"  = {stages[i].ref} (logged)")
            return stages[i + 1:]
    return stages


def arm_scores(arm: ArmNode) -> dict[str, float]:
    """The arm's own scores from its training logs: the tokens its own stages trained on, its x, and `log_metrics`
    (the median over the steps after the first of its last own stage)."""
    own = arm.chain[len(arm.chain) - arm.own:]
    logs = [Run.at(s.ref).train_log() for s in own]
    scores = {"train_tokens": float(sum(int(lg["tokens"].iloc[-1]) for lg in logs if not lg.empty))}
    for score, column in arm.log_metrics.items():
        last = logs[-1] if logs else None
        scores[score] = (float(statistics.median(last[column].iloc[1:])) if last is not None and len(last) > 1
                         else float("nan"))
    if arm.arm.x is not None:
        scores["x"] = float(arm.arm.x)
    return scores


def indexed_row(arm: ArmNode) -> dict | None:
    """The arm's current index row if it names the same runs as the graph (else the arm has to run)."""
    refs = arm.index_row({})
    for r in read_index(experiments=[arm.experiment]):
        if r["arm"] == arm.arm.name and r["seed"] == arm.seed:
            same = all(r.get(k) == refs[k] for k in ("stages", "sft", "eval", "pre_sft_eval"))
            return r if same else None
    return None


def check_eval_data(graph: Graph, skip_logged: bool = True) -> None:
    """Before anything runs at the paper scale: every evaluation the graph still has to run finds HELMET's released
    data (prolong.experiments.eval_data; a missing file is an error naming it, never the tiny suite instead)."""
    seen = set()
    for arm in graph.arms:
        if skip_logged and indexed_row(arm) is not None:
            continue
        for node in (arm.pre_sft_eval, arm.eval):
            if node is None or node.ref in seen or Run.at(node.ref).is_done():
                continue
            seen.add(node.ref)
            require_helmet_data(EvalConfig.from_dict(node.config, node.ref), f"{node.ref} ({graph.experiment})")


def run_graph(graph: Graph, skip_logged: bool = True, log=None, *, scale: str = "tiny",
              train_missing: bool = True) -> list[dict]:
    """Train, fine-tune and evaluate the graph's arms in this process; return their index rows.

    With `skip_logged` false, an arm already indexed is indexed again (its logged runs are still reused). At a scale
    other than "tiny" the evaluations read HELMET's released data, checked before anything runs (check_eval_data).
    With `train_missing` false (the cluster's evaluation job) a stage not trained is an error, never trained here."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    if scale != "tiny":
        check_eval_data(graph, skip_logged)
    rows: list[dict | None] = []
    trained: list[tuple[int, ArmNode]] = []  # (position in rows, arm): evaluated and indexed by _finish
    try:
        for arm in graph.arms:
            name = f"{graph.experiment}/{arm.arm.name}-s{arm.seed}"
            row = indexed_row(arm) if skip_logged else None
            if row is not None:
                log(f"{name}: indexed, skipped")
                rows.append(row)
                continue
            log(f"{name}: {arm.arm.label}")
            if scale == "tiny":
                install_shipped_base(arm.stages, log)  # the shipped tiny base, when the chain names it
            for stage in stages_to_train(arm.stages, log):
                train_stage(stage, log, train_missing)
            trained.append((len(rows), arm))
            rows.append(None)
    except Exception:
        _finish(trained, rows, log)  # the arms trained before the failure are still evaluated and indexed
        raise
    _finish(trained, rows, log)
    return rows


def _finish(trained: list[tuple[int, ArmNode]], rows: list[dict | None], log) -> None:
    """Evaluate the trained arms' models, all after the training (side by side where the CPU allows:
    prolong.experiments.eval_pool), then append each arm's index row in the graph's order."""
    evaluate_all([n for _, arm in trained for n in (arm.pre_sft_eval, arm.eval) if n is not None], log)
    for i, arm in trained:
        rows[i] = append_index(arm.index_row(arm_scores(arm)))


def run_experiment(spec: ExperimentSpec, arms: list[str] | None = None, seeds: list[int] | None = None,
                   steps: int | None = None, skip_logged: bool = True, log=None) -> list[dict]:
    """Resolve and run (the tiny scale): `run_graph(resolve(spec, arms, seeds, steps))`."""
    return run_graph(resolve(spec, arms, seeds, steps), skip_logged, log)


# ---- paper scale: plan, do not run -------------------------------------------------------------------------------

TRAIN_SBATCH = "params/paper/slurm/train.sbatch"  # accelerate + FSDP on every node; requeues at its time limit
EVAL_SBATCH = "params/paper/slurm/eval.sbatch"    # `prolong experiment run --no-train` on one GPU node

LAUNCH_HEADER = """\
# Submits the whole graph at once, from the repository root (every job finds the repository from SLURM_SUBMIT_DIR):
# one job per training run, each after the job of the run it starts from (--dependency=afterok), and per arm an
# evaluation job after its training jobs. A job that fails cancels the jobs waiting on it (--kill-on-invalid-dep);
# a training job requeues itself at its time limit and resumes, so the chain runs unattended. Runs logged as done
# when the script was written are not submitted again.
set -euo pipefail
for f in {train} {eval}; do
  [ -f "$f" ] || {{ echo "error: $PWD/$f not found: run this script from the repository root" >&2; exit 2; }}
done
submit() {{  # sbatch ARGS -> the job id (--parsable prints "id" or "id;cluster")
  local id
  id=$(sbatch --parsable --kill-on-invalid-dep=yes "$@")
  id=${{id%%;*}}
  echo "submitted job $id: $*" >&2
  echo "$id"
}}
"""
ONE_GPU_SCALES = ("small",)  # one process on one GPU: `prolong train` in order, no Slurm, no launcher


def _nodes(stage: StageNode) -> int:
    """8-GPU nodes for a stage: one sequence (or one sequence-parallel group) per GPU, the paper's batch."""
    t = stage.params["train"]
    gpus = t["batch_size"] // t.get("micro_batch_size", 1) * t.get("sequence_parallel_size", 1)
    return max(1, gpus // 8)


def _after(jobs: list[str]) -> str:
    return f" --dependency=afterok:{':'.join(jobs)}" if jobs else ""


def _write_new_stages(arm, seen: set[str], out_dir: Path):
    """(stage, params path) of each of the arm's stages not planned yet (a shared run once), its params written."""
    for stage in arm.stages:
        if stage.name in seen:
            continue
        seen.add(stage.name)
        path = out_dir / f"{stage.name}.yaml"
        atomic_write_text(path, yaml.safe_dump(stage.params, sort_keys=False))
        yield stage, path


def _write_launch(out_dir: Path, graph: Graph, header: str, commands: list[str]) -> None:
    """`out_dir/launch.sh`: the experiment's description, `header`, then the commands; executable."""
    atomic_write_text(out_dir / "launch.sh", "#!/usr/bin/env bash\n# " + graph.description.replace("\n", " ")
                      + "\n" + header + "\n".join(commands) + "\n")
    (out_dir / "launch.sh").chmod(0o755)


def plan_graph(graph: Graph, out_dir: Path, scale: str = "paper", steps: int | None = None) -> list[str]:
    """Write every stage's params under `out_dir` and `out_dir/launch.sh`; return the script's commands in order: a
    Slurm job per training run not yet logged as done (shared runs once), each after the job of the run it starts
    from, then per arm an evaluation job after its stages' jobs (`prolong experiment run --no-train`, which evaluates
    the arm and appends its index row)."""
    if scale in ONE_GPU_SCALES:
        return _plan_one_gpu(graph, out_dir, scale, steps)
    commands, jobs, seen = [], {}, set()
    for i, arm in enumerate(graph.arms, 1):
        for stage, path in _write_new_stages(arm, seen, out_dir):
            if stage_done(stage):
                commands.append(f"# {stage.ref}: logged as done, not submitted")
                continue
            start = stage.params["train"].get("init_from")
            var = f"train_{len(jobs) + 1}"
            commands.append(f"{var}=$(submit --nodes {_nodes(stage)}{_after([jobs[start]] if start in jobs else [])} "
                            f"--job-name {stage.name} {TRAIN_SBATCH} {path})")
            jobs[stage.ref] = f"${var}"
        steps_flag = f" --steps {steps}" if steps else ""
        after = _after([jobs[s.ref] for s in arm.stages if s.ref in jobs])
        commands.append(f"eval_{i}=$(submit{after} --job-name {graph.experiment}-{arm.arm.name} "
                        f"{EVAL_SBATCH} --scale {scale} --experiment {graph.experiment} --arms {arm.arm.name} "
                        f"--seeds {arm.seed}{steps_flag})")
    _write_launch(out_dir, graph, LAUNCH_HEADER.format(train=TRAIN_SBATCH, eval=EVAL_SBATCH), commands)
    return commands


def _plan_one_gpu(graph: Graph, out_dir: Path, scale: str, steps: int | None) -> list[str]:
    """The one-GPU plan (`small`): every training run in order as `prolong train` (each starts from the previous
    one's finished run; shared runs once, runs logged as done skipped), then per arm `prolong experiment run`, which
    evaluates the arm and appends its index row, as at the tiny scale."""
    commands, seen = [], set()
    for arm in graph.arms:
        for stage, path in _write_new_stages(arm, seen, out_dir):
            commands.append(f"# {stage.ref}: logged as done" if stage_done(stage) else f"prolong train --params {path}")
        steps_flag = f" --steps {steps}" if steps else ""
        commands.append(f"prolong experiment run --scale {scale} --experiment {graph.experiment} "
                        f"--arms {arm.arm.name} --seeds {arm.seed}{steps_flag}")
    _write_launch(out_dir, graph, "set -euo pipefail\n", commands)
    return commands


def plan_experiment(spec: ExperimentSpec, out_dir: Path, arms: list[str] | None = None,
                    seeds: list[int] | None = None, steps: int | None = None, scale: str = "paper") -> list[str]:
    """Resolve and plan (the paper scale): `plan_graph(resolve(spec, arms, seeds, steps), out_dir)`."""
    return plan_graph(resolve(spec, arms, seeds, steps), out_dir, scale, steps)
