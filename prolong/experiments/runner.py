"""Run the arms of an experiment (tiny scale, in this process) or plan them (paper scale, launch commands).

Every training stage is a logged run whose name carries a fingerprint of its resolved params, so arms that share a
stage (the base model, or the same 1K run under several experiments) train it once, and a rerun skips every stage
and evaluation already logged. An arm's result is a run `<experiment>/<arm>-s<seed>` whose scores use the paper's
column names, which is what the report functions read.
"""

from __future__ import annotations

import copy
import re
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prolong import paths
from prolong.config import ConfigError, read_yaml
from prolong.experiments.config import ArmSpec, EvalSpec, ExperimentSpec, StageSpec
from prolong.io import atomic_write_text
from prolong.runs import MODEL_DIR, Run, params_fingerprint



def experiment_file(scale: str, experiment: str) -> Path:
    return paths.PARAMS_DIR / scale / "experiments" / f"{experiment}.yaml"


def load_experiment(scale: str, experiment: str) -> ExperimentSpec:
    return ExperimentSpec.from_yaml(experiment_file(scale, experiment))


def _repo_path(p: str) -> Path:
    path = Path(p)
    return path if path.is_absolute() else paths.REPO_ROOT / path


def apply_overrides(data: dict[str, Any], overrides: dict[str, Any], source: str) -> dict[str, Any]:
    """Set dotted keys (`model.rope_theta`) in a copy of `data`; a key that is not in the file is an error (the
    params dataclasses would refuse it too, but this names the override)."""
    out = copy.deepcopy(data)
    for dotted, value in overrides.items():
        node, keys = out, dotted.split(".")
        for k in keys[:-1]:
            if not isinstance(node.get(k), dict):
                raise ConfigError(f"{source}: override {dotted!r}: no section {k!r}")
            node = node[k]
        if keys[-1] not in node:
            raise ConfigError(f"{source}: override {dotted!r}: no key {keys[-1]!r} to override")
        node[keys[-1]] = value
    return out


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9.+=@,-]+", "-", text).strip("-").lower()


@dataclass
class ResolvedStage:
    """A stage with its params resolved: where it logs and what it trains."""

    experiment: str
    name: str
    params: dict[str, Any]
    source: str

    @property
    def ref(self) -> str:
        return f"{self.experiment}/{self.name}"

    @property
    def path(self) -> Path:
        return paths.runs_dir() / self.experiment / self.name


def resolve_stage(stage: StageSpec, init_from: str | None, seed: int | None, steps: int | None) -> ResolvedStage:
    """The stage's params file + overrides + where it starts from + the arm's seed and step budget."""
    source = f"{stage.params} (+ {len(stage.set)} overrides)"
    data = apply_overrides(read_yaml(_repo_path(stage.params)), stage.set, source)
    if init_from is not None:
        data["train"]["init_from"] = init_from
    if seed is not None and stage.seeded:
        data["train"]["seed"] = seed
        data["data"]["seed"] = seed
    if steps:
        data["train"]["steps"] = steps
    data["name"] = None
    name = f"{_slug(Path(stage.params).stem)}-{params_fingerprint(data)[:10]}"
    data["name"] = name
    return ResolvedStage(data["experiment"], name, data, source)


def stage_done(stage: ResolvedStage) -> bool:
    return (stage.path / MODEL_DIR).is_dir() and Run(stage.path).is_done()


def train_stage(stage: ResolvedStage, log=print) -> None:
    """Train (or resume) one stage in this process unless it is already logged as done."""
    if stage_done(stage):
        log(f"  = {stage.ref} (logged)")
        return
    from prolong.train.config import TrainParams
    from prolong.train.loop import train

    params = TrainParams.from_dict(stage.params, stage.source)
    t0 = time.perf_counter()
    run = train(params, run_name=stage.name)
    run.set_status("done")
    log(f"  + {stage.ref} ({time.perf_counter() - t0:.0f}s)")


def resolve_eval(spec: EvalSpec):
    from prolong.eval.config import EvalConfig

    source = f"{spec.params} (+ {len(spec.set)} overrides)"
    return EvalConfig.from_dict(apply_overrides(read_yaml(_repo_path(spec.params)), spec.set, source), source)


def evaluate(model_ref: str, spec: EvalSpec, log=print) -> Run:
    """Evaluate a finished stage's model once: the run `evals/<model>-<eval fingerprint>` (skipped when logged), so
    arms of several experiments that share a model share its evaluation."""
    from prolong.eval.runner import evaluate_model, load_model

    cfg = resolve_eval(spec)
    params = {"model": model_ref, "eval": cfg.to_dict()}
    run = Run.open("evals", f"{model_ref.replace('/', '__')}-{params_fingerprint(params)[:10]}", params)
    if run.is_done():
        log(f"  = evals/{run.name} (logged)")
        return run
    t0 = time.perf_counter()
    try:
        model, tok = load_model(paths.runs_dir() / model_ref / MODEL_DIR, cfg)
        evaluate_model(model, tok, cfg, run)
    except BaseException as err:
        run.set_status("failed", f"{type(err).__name__}: {err}")
        raise
    run.set_status("done")
    log(f"  + evals/{run.name} ({time.perf_counter() - t0:.0f}s)")
    return run


def log_result(experiment: str, name: str, label: str, evaluation: Run, extra: dict[str, Any],
               scores: dict[str, float], columns: dict[str, str]) -> Run:
    """The arm's result run: the evaluation's per-dataset results and scores (renamed to the table's columns where
    `columns` says so), plus the arm's own scores."""
    run = Run.open(experiment, name, {"label": label, "evaluation": f"evals/{evaluation.name}", **extra})
    for dataset, length, result in evaluation.evals():
        run.write_eval(dataset, length, result)
    renamed = {columns.get(k, k): v for k, v in evaluation.scores().items()}
    run.write_scores({**renamed, **scores})
    run.set_status("done")
    return run


def arm_chain(spec: ExperimentSpec, arm: ArmSpec, seed: int, steps: int | None
              ) -> tuple[list[ResolvedStage], ResolvedStage | None]:
    """The resolved stages of one arm: base chain + the arm's stages, and its SFT stage (or None)."""
    chain, prev = [], None
    for stage in spec.base:
        chain.append(resolve_stage(stage, prev, None, None))
        prev = chain[-1].ref
    for i, stage in enumerate(arm.stages):
        chain.append(resolve_stage(stage, prev, seed, steps if i == 0 else None))
        prev = chain[-1].ref
    sft_spec = None if arm.sft_off else (arm.sft or spec.sft)
    if sft_spec is None:
        return chain, None
    # SFT inherits the RoPE setting of the model it fine-tunes (the paper's SFT keeps Stage 2's theta).
    model = chain[-1].params["model"]
    inherited = {f"model.{k}": model[k] for k in ("rope_theta", "max_position_embeddings") if model.get(k) is not None}
    sft_spec = StageSpec(sft_spec.params, {**inherited, **sft_spec.set}, sft_spec.seeded)
    return chain, resolve_stage(sft_spec, prev, seed, None)


def run_experiment(spec: ExperimentSpec, arms: list[str] | None = None, seeds: list[int] | None = None,
                   steps: int | None = None, skip_logged: bool = True, log=None) -> list[Run]:
    """Train, fine-tune and evaluate the selected arms in this process; return their result runs.

    `steps` overrides the optimizer steps of each arm's first own stage (the token budget of the comparison).
    With `skip_logged` false, an arm whose result is logged is evaluated again into a fresh run name."""
    log = log or (lambda msg: print(msg, file=sys.stderr, flush=True))
    results = []
    for arm in spec.select(arms or []):
        for seed in seeds or spec.seeds:
            name = f"{arm.name}-s{seed}"
            existing = Run(paths.runs_dir() / spec.experiment / name)
            if skip_logged and (existing.path / "status.json").exists() and existing.is_done():
                log(f"{spec.experiment}/{name}: logged, skipped")
                results.append(existing)
                continue
            if not skip_logged and existing.path.exists():
                name = f"{name}-{time.strftime('%Y%m%d%H%M%S')}"
            log(f"{spec.experiment}/{name}: {arm.label}")
            chain, sft = arm_chain(spec, arm, seed, steps)
            for stage in chain + ([sft] if sft else []):
                train_stage(stage, log)
            final, before_sft = (sft or chain[-1]), chain[-1]
            extra = {"arm": arm.to_dict(), "seed": seed, "stages": [s.ref for s in chain],
                     "sft": sft.ref if sft else None}
            scores = _arm_scores(arm, chain[len(spec.base):])
            if spec.pre_sft_eval is not None:
                log_result(f"{spec.experiment}.pre_sft", name, arm.label, evaluate(before_sft.ref, spec.pre_sft_eval, log),
                           extra, scores, spec.columns)
            results.append(log_result(spec.experiment, name, arm.label, evaluate(final.ref, spec.eval, log), extra,
                                      scores, spec.columns))
    return results


def _arm_scores(arm: ArmSpec, own: list[ResolvedStage]) -> dict[str, float]:
    """Coordinates for figures: the arm's x and the tokens its own stages trained on."""
    tokens = 0
    for stage in own:
        log = Run(stage.path).train_log()
        if not log.empty:
            tokens += int(log["tokens"].iloc[-1])
    scores = {"train_tokens": float(tokens)}
    if arm.x is not None:
        scores["x"] = float(arm.x)
    return scores


# ---- paper scale: plan, do not run -------------------------------------------------------------------------------

LAUNCH = "sbatch --wait --nodes {nodes} params/paper/slurm/train.sbatch {params}"  # accelerate + FSDP on every node


def _nodes(stage: ResolvedStage) -> int:
    """8-GPU nodes for a stage: one sequence (or one sequence-parallel group) per GPU, the paper's batch."""
    t = stage.params["train"]
    gpus = t["batch_size"] // t.get("micro_batch_size", 1) * t.get("sequence_parallel_size", 1)
    return max(1, gpus // 8)


def plan_experiment(spec: ExperimentSpec, out_dir: Path, arms: list[str] | None = None,
                    seeds: list[int] | None = None, steps: int | None = None) -> list[str]:
    """Write every stage's resolved params under `out_dir` and return the launch commands in order: one Slurm job per
    training stage (`--wait`, so each starts from the previous one's finished run; stages shared between arms appear
    once), then per arm `python -m prolong.experiments run`, which finds every stage logged and only evaluates the
    arm and logs its result run (label, column names, x) exactly as the tiny scale does."""
    commands, seen = [], set()
    for arm in spec.select(arms or []):
        for seed in seeds or spec.seeds:
            chain, sft = arm_chain(spec, arm, seed, steps)
            for stage in chain + ([sft] if sft else []):
                if stage.ref in seen:
                    continue
                seen.add(stage.ref)
                path = out_dir / f"{stage.name}.yaml"
                import yaml

                atomic_write_text(path, yaml.safe_dump(stage.params, sort_keys=False))
                commands.append(LAUNCH.format(nodes=_nodes(stage), params=path))
            # every stage is logged by then: `run` only evaluates and logs the arm, as at the tiny scale
            steps_flag = f" --steps {steps}" if steps else ""
            commands.append(f"python -m prolong.experiments run --scale paper --experiment {spec.experiment} "
                            f"--arms {arm.name} --seeds {seed}{steps_flag}")
    return commands
