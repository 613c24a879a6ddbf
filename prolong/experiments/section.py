"""What a section notebook calls to rerun its experiments: run the missing arms (tiny scale) or write the launch
commands (paper scale), then the tables and figures read the logged runs."""

from __future__ import annotations

import sys
from pathlib import Path

from prolong import paths
from prolong.config import ConfigError
from prolong.experiments.runner import experiment_file, load_experiment, plan_experiment, run_experiment
from prolong.tiny import build_tiny


def _arms_for(spec, arms: list[str]) -> list[str]:
    """The requested arms that this experiment has (arms are named per experiment; a notebook may list several)."""
    return [a for a in arms if a in {x.name for x in spec.arms}]


def run_section(experiments: list[str], scale: str, arms: list[str] | None = None, seeds: list[int] | None = None,
                steps: int = 0, skip_logged: bool = True, mode: str = "auto") -> dict[str, list[str]]:
    """Run (or plan) every experiment of a section; return {experiment: result run names, or launch commands}.

    mode "run" trains and evaluates in this process (the tiny scale), "plan" writes resolved params and launch
    commands under build/launch/<experiment>/ (the paper scale); "auto" plans for scale "paper" and runs otherwise."""
    arms = arms or []
    specs = {e: load_experiment(scale, e) for e in experiments if experiment_file(scale, e).is_file()}
    missing = [e for e in experiments if e not in specs]
    if missing and scale != "paper":
        raise ConfigError(f"no experiment file {experiment_file(scale, missing[0])}")
    unknown = [a for a in arms if not any(a in {x.name for x in s.arms} for s in specs.values())]
    if unknown:
        raise ConfigError(f"unknown arm {unknown[0]!r} for experiments {', '.join(experiments)}")
    mode = ("plan" if scale == "paper" else "run") if mode == "auto" else mode
    if mode == "run" and scale == "tiny":
        build_tiny()  # the tiny corpus, tokenizer, stores, eval suite and SFT files (fast when built)
    out: dict[str, list[str]] = {}
    for name, spec in specs.items():
        chosen = _arms_for(spec, arms) if arms else []
        if arms and not chosen:
            continue
        if mode == "plan":
            folder = paths.build_dir() / "launch" / name
            out[name] = plan_experiment(spec, folder, chosen, seeds or None, steps or None)
            script = folder / "launch.sh"
            script.write_text("#!/usr/bin/env bash\n# " + spec.description.replace("\n", " ") + "\nset -euo pipefail\n"
                              + "\n".join(out[name]) + "\n")
        else:
            runs = run_experiment(spec, chosen, seeds or None, steps or None, skip_logged)
            out[name] = [r.name for r in runs]
    for e in missing:
        print(f"{e}: no paper-scale experiment file ({experiment_file(scale, e)}); showing logged runs only",
              file=sys.stderr)
    return out


def launch_scripts(experiments: list[str]) -> list[Path]:
    return [p for e in experiments if (p := paths.build_dir() / "launch" / e / "launch.sh").is_file()]
