"""What a section notebook calls to rerun its experiments: run the missing arms (tiny scale) or write the launch
scripts (paper scale), then the tables and figures read the index of logged arms."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from prolong import paths
from prolong.config import ConfigError
from prolong.experiments.graph import experiment_file, load_experiment, resolve
from prolong.experiments.run_log import RunLog, live_echo
from prolong.experiments.runner import plan_graph, run_graph
from prolong.tiny import build_tiny


def _arms_for(spec, arms: list[str]) -> list[str]:
    """The requested arms that this experiment has (arms are named per experiment; a notebook may list several)."""
    return [a for a in arms if a in {x.name for x in spec.arms}]


def run_section(experiments: list[str], scale: str, arms: list[str] | None = None, seeds: list[int] | None = None,
                steps: int = 0, skip_logged: bool = True, mode: str = "auto") -> dict[str, list[str]]:
    """Run (or plan) every experiment of a section; return {experiment: indexed arms ('<arm>-s<seed>'), or launch
    commands}.

    mode "run" trains and evaluates in this process (the tiny scale), "plan" writes resolved params and launch.sh
    under build/launch/<experiment>/ (the paper scale); "auto" plans for scale "paper" (and "small" without a GPU)
    and runs otherwise. Both
    execute the same resolved graph. What ran and what was skipped is shown once, as a table (prolong.experiments.
    run_log), rather than a line per stage."""
    arms = arms or []
    specs = {e: load_experiment(scale, e) for e in experiments if experiment_file(scale, e).is_file()}
    missing = [e for e in experiments if e not in specs]
    if missing and scale == "tiny":
        raise ConfigError(f"no experiment file {experiment_file(scale, missing[0])}")
    unknown = [a for a in arms if not any(a in {x.name for x in s.arms} for s in specs.values())]
    if unknown:
        raise ConfigError(f"unknown arm {unknown[0]!r} for experiments {', '.join(experiments)}")
    if mode == "auto":  # the small (one-GPU) scale runs where there is a GPU and is planned where there is none
        mode = "plan" if scale == "paper" or (scale == "small" and not torch.cuda.is_available()) else "run"
    if mode == "run" and scale == "tiny":
        build_tiny()  # the tiny corpus, tokenizer, stores, eval suite and SFT files (fast when built)
    out: dict[str, list[str]] = {}
    log = RunLog(echo=live_echo())
    for name, spec in specs.items():
        chosen = _arms_for(spec, arms) if arms else []
        if arms and not chosen:
            continue
        graph = resolve(spec, chosen, seeds or None, steps or None)
        if mode == "plan":
            out[name] = plan_graph(graph, paths.build_dir() / "launch" / name, scale, steps or None)
        else:
            out[name] = [f"{r['arm']}-s{r['seed']}" for r in run_graph(graph, skip_logged, log, scale=scale)]
    for e in missing:
        log(f"{e}: no {scale}-scale experiment file "
            f"({os.path.relpath(experiment_file(scale, e), paths.REPO_ROOT)}); showing logged runs only")
    log.show()
    return out


def launch_scripts(experiments: list[str]) -> list[Path]:
    return [p for e in experiments if (p := paths.build_dir() / "launch" / e / "launch.sh").is_file()]
