"""`prolong experiment run|plan --scale S --experiment ID [--arms a b] [--seeds 0 1] [--steps N] [--no-train]`
`prolong experiment ship-base`


run: train the arm's stages that are not logged, evaluate, and append the arm's index row (at the paper scale, after
the cluster has trained every stage, this only evaluates and indexes: the same code path as the tiny scale; with
--no-train, what the cluster's evaluation job runs, a stage not trained is an error). At a scale other than tiny the
evaluation reads HELMET's released data: a missing file is an error naming it, checked before anything runs.
plan: write the stages' params and the launch script under build/launch/<experiment>/ (launch.sh: chained Slurm
jobs, training then evaluation).
Both resolve the experiment file into the same graph (prolong.experiments.graph).
ship-base: train the tiny base chain (params/tiny/base_chain.yaml) into the run store if it is not logged there, then
write its last stage to results/tiny_base/ (prolong.experiments.shipped_base; `make tiny-base`).
"""

from __future__ import annotations

import argparse
import os
import sys

from prolong import paths
from prolong.config import ConfigError
from prolong.experiments.graph import arm_chain, load_experiment, resolve
from prolong.experiments.runner import plan_graph, run_graph, stages_to_train, train_stage
from prolong.experiments.shipped_base import SHIPPED_DIR, write_shipped_base
from prolong.runs import OldLayoutError, Run
from prolong.tiny import build_tiny


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("action", choices=["run", "plan", "ship-base"])
    parser.add_argument("--scale", default="tiny")
    parser.add_argument("--experiment", default="", help="required by run and plan")
    parser.add_argument("--arms", nargs="*", default=[])
    parser.add_argument("--seeds", nargs="*", type=int, default=[])
    parser.add_argument("--steps", type=int, default=0)
    parser.add_argument("--no-train", action="store_true",
                        help="only evaluate and index: a stage not trained is an error (the cluster's evaluation job)")


def ship_base(log=print) -> int:
    """Train the tiny base chain here (never the shipped copy) and ship its last stage."""
    os.environ["PROLONG_TRAIN_BASE"] = "1"
    build_tiny()
    spec = load_experiment("tiny", "T18")
    chain, _ = arm_chain(spec, spec.arms[0], spec.seeds[0], None)
    base = chain[:len(spec.base)]
    for stage in stages_to_train(base, log):
        train_stage(stage, log)
    manifest = write_shipped_base(Run.at(base[-1].ref).path)
    log(f"wrote {SHIPPED_DIR}/{manifest['run']} ({len(manifest['files'])} files)")
    return 0


def main(args: argparse.Namespace) -> int:
    if args.action == "ship-base":
        return ship_base()
    if not args.experiment:
        print("error: --experiment is required", file=sys.stderr)
        return 2
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
