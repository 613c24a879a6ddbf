"""The two executors of an experiment's graph (prolong.experiments.graph): run it here, or plan it for the cluster.

`run_graph` trains every stage that is not logged, evaluates every model that is not evaluated, and appends one
index row per finished arm (runs/index.jsonl); an arm already indexed with the same runs is skipped, so a rerun costs
only the resolution. `plan_graph` writes the same stages' params and the launch script: one Slurm job per training run
(each once, in order), then per arm `prolong experiment run`, which finds every stage logged and only evaluates and
indexes the arm, exactly as the tiny scale does.
"""

from __future__ import annotations

import statistics
import sys
import time
from pathlib import Path

import yaml

from prolong import paths
from prolong.eval.config import EvalConfig
from prolong.eval.runner import evaluate_model, load_model
from prolong.experiments.config import ExperimentSpec
from prolong.experiments.graph import ArmNode, EvalNode, Graph, StageNode, resolve
from prolong.io import atomic_write_text
from prolong.runs import MODEL_DIR, Run, append_index, read_index
from prolong.train.loop import train


def stage_done(stage: StageNode) -> bool:
    run = Run.at(stage.ref)
    return (run.path / MODEL_DIR).is_dir() and run.is_done()


def train_stage(stage: StageNode, log=print) -> None:
    """Train (or resume) one stage in this process unless it is already logged as done."""
    if stage_done(stage):
        log(f"  = {stage.ref} (logged)")
        return
    t0 = time.perf_counter()
    run = train(stage.train_params(), run_name=stage.name)
    run.set_status("done")
    log(f"  + {stage.ref} ({time.perf_counter() - t0:.0f}s)")


def evaluate(node: EvalNode, log=print) -> Run:
    """Evaluate a finished stage's model once into `eval/<model>-<fingerprint>` (skipped when logged), so arms of
    several experiments that share a model share its evaluation."""
    cfg = EvalConfig.from_dict(node.config, node.ref)
    run = Run.open("eval", node.name, node.params)
    if run.is_done():
        log(f"  = {node.ref} (logged)")
        return run
    t0 = time.perf_counter()
    try:
        model, tok = load_model(Run.at(node.model).path / MODEL_DIR, cfg)
        evaluate_model(model, tok, cfg, run)
    except BaseException as err:
        run.set_status("failed", f"{type(err).__name__}: {err}")
        raise
    run.set_status("done")
    log(f"  + {node.ref} ({time.perf_counter() - t0:.0f}s)")
    return run


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


def run_graph(graph: Graph, skip_logged: bool = True, log=None) -> list[dict]:
    """Train, fine-tune and evaluate the graph's arms in this process; return their index rows.

    With `skip_logged` false, an arm already indexed is indexed again (its logged runs are still reused)."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    rows = []
    for arm in graph.arms:
        name = f"{graph.experiment}/{arm.arm.name}-s{arm.seed}"
        row = indexed_row(arm) if skip_logged else None
        if row is not None:
            log(f"{name}: indexed, skipped")
            rows.append(row)
            continue
        log(f"{name}: {arm.arm.label}")
        for stage in arm.stages:
            train_stage(stage, log)
        for node in (arm.pre_sft_eval, arm.eval):
            if node is not None:
                evaluate(node, log)
        rows.append(append_index(arm.index_row(arm_scores(arm))))
    return rows


def run_experiment(spec: ExperimentSpec, arms: list[str] | None = None, seeds: list[int] | None = None,
                   steps: int | None = None, skip_logged: bool = True, log=None) -> list[dict]:
    """Resolve and run (the tiny scale): `run_graph(resolve(spec, arms, seeds, steps))`."""
    return run_graph(resolve(spec, arms, seeds, steps), skip_logged, log)


# ---- paper scale: plan, do not run -------------------------------------------------------------------------------

LAUNCH = "sbatch --wait --nodes {nodes} params/paper/slurm/train.sbatch {params}"  # accelerate + FSDP on every node
LAUNCH_BY_SCALE = {"small": "prolong train --params {params}"}  # one GPU: one process, no launcher


def _nodes(stage: StageNode) -> int:
    """8-GPU nodes for a stage: one sequence (or one sequence-parallel group) per GPU, the paper's batch."""
    t = stage.params["train"]
    gpus = t["batch_size"] // t.get("micro_batch_size", 1) * t.get("sequence_parallel_size", 1)
    return max(1, gpus // 8)


def plan_graph(graph: Graph, out_dir: Path, scale: str = "paper", steps: int | None = None) -> list[str]:
    """Write every stage's params under `out_dir` and `out_dir/launch.sh`; return the launch commands in order: one
    Slurm job per training run (`--wait`, so each starts from the previous one's finished run; shared runs once),
    then per arm `prolong experiment run`, which evaluates the arm and appends its index row."""
    commands, seen = [], set()
    for arm in graph.arms:
        for stage in arm.stages:
            if stage.name in seen:
                continue
            seen.add(stage.name)
            path = out_dir / f"{stage.name}.yaml"
            atomic_write_text(path, yaml.safe_dump(stage.params, sort_keys=False))
            commands.append(LAUNCH_BY_SCALE.get(scale, LAUNCH).format(nodes=_nodes(stage), params=path))
        # every stage is logged by then: `run` only evaluates and indexes the arm, as at the tiny scale
        steps_flag = f" --steps {steps}" if steps else ""
        commands.append(f"prolong experiment run --scale {scale} --experiment {graph.experiment} "
                        f"--arms {arm.arm.name} --seeds {arm.seed}{steps_flag}")
    atomic_write_text(out_dir / "launch.sh", "#!/usr/bin/env bash\n# " + graph.description.replace("\n", " ")
                      + "\nset -euo pipefail\n" + "\n".join(commands) + "\n")
    return commands


def plan_experiment(spec: ExperimentSpec, out_dir: Path, arms: list[str] | None = None,
                    seeds: list[int] | None = None, steps: int | None = None, scale: str = "paper") -> list[str]:
    """Resolve and plan (the paper scale): `plan_graph(resolve(spec, arms, seeds, steps), out_dir)`."""
    return plan_graph(resolve(spec, arms, seeds, steps), out_dir, scale, steps)
