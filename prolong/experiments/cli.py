"""`prolong experiment run|plan --scale S --experiment ID [--arms a b] [--seeds 0 1] [--steps N] [--no-train]`

run: train the arm's stages that are not logged, evaluate, and append the arm's index row (at the paper scale, after
the cluster has trained every stage, this only evaluates and indexes: the same code path as the tiny scale; with
--no-train, what the cluster's evaluation job runs, a stage not trained is an error). At a scale other than tiny the
evaluation reads HELMET's released data: a missing file is an error naming it, checked before anything runs.
plan: write the stages' params and the launch script under build/launch/<experiment>/ (launch.sh: chained Slurm
jobs, training then evaluation).
Both resolve the experiment file into the same graph (prolong.experiments.graph).
"""

from __future__ import annotations

import argparse
import sys

from prolong import paths
from prolong.config import ConfigError
from prolong.experiments.graph import load_experiment, resolve
from prolong.experiments.runner import plan_graph, run_graph
from prolong.runs import OldLayoutError
from prolong.tiny import build_tiny


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["run", "plan"])
    parser.add_argument("--scale", default="tiny")
    parser.add_argument("--experiment", required=True)
    parser.add_argument("--arms", nargs="*", default=[])
    parser.add_argument("--seeds", nargs="*", type=int, default=[])
    parser.add_argument("--steps", type=int, default=0)
    parser.add_argument("--no-train", action="store_true",
                        help="only evaluate and index: a stage not trained is an error (the cluster's evaluation job)")


def main(args: argparse.Namespace) -> int:
    try:
        graph = resolve(load_experiment(args.scale, args.experiment), args.arms, args.seeds or None,
                        args.steps or None)
        if args.action == "plan":
            for command in plan_graph(graph, paths.build_dir() / "launch" / args.experiment, args.scale,
                                      args.steps or None):
                print(command)
        else:
            if args.scale == "tiny":
                build_tiny()  # the tiny corpus, tokenizer, stores, eval suite and SFT files (fast when built)
            for row in run_graph(graph, scale=args.scale, train_missing=not args.no_train):
                print(f"{row['experiment']}/{row['arm']}-s{row['seed']}: {row['eval'] or ' '.join(row['stages'])}")
    except (ConfigError, OldLayoutError) as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    return 0
