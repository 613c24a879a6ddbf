"""`python -m prolong.experiments run|plan --scale S --experiment ID [--arms a b] [--seeds 0 1] [--steps N]`

run: train the arm's stages that are not logged, then evaluate and log its result run (at the paper scale, after the
cluster has trained every stage, this only evaluates and logs: the same code path as the tiny scale).
plan: write the stages' params and the launch commands under build/launch/<experiment>/.
"""

from __future__ import annotations

import argparse
import sys

from prolong import paths
from prolong.config import ConfigError
from prolong.experiments.runner import load_experiment, plan_experiment, run_experiment
from prolong.tiny import build_tiny


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m prolong.experiments", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("action", choices=["run", "plan"])
    parser.add_argument("--scale", default="tiny")
    parser.add_argument("--experiment", required=True)
    parser.add_argument("--arms", nargs="*", default=[])
    parser.add_argument("--seeds", nargs="*", type=int, default=[])
    parser.add_argument("--steps", type=int, default=0)
    args = parser.parse_args(argv)
    try:
        spec = load_experiment(args.scale, args.experiment)
        if args.action == "plan":
            for command in plan_experiment(spec, paths.build_dir() / "launch" / args.experiment, args.arms,
                                           args.seeds or None, args.steps or None):
                print(command)
        else:
            if args.scale == "tiny":
                build_tiny()  # the tiny data this run reads (fast when built)
            for run in run_experiment(spec, args.arms, args.seeds or None, args.steps or None):
                print(run.path)
    except ConfigError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
