"""`prolong train`: run (or resume) one training stage from a params file; the run is `runs/train/<name>`.

    prolong train --params params/tiny/stages/stage1.yaml [--run-name NAME] [--max-steps N]
    prolong train --params params/tiny/stages/stage1.yaml --set optim.lr=1e-4 --set data.seq_len=512
    torchrun --nproc_per_node 2 -m prolong.cli train --params params/tiny/stages/stage1.yaml    (2 CPU processes, gloo)
    accelerate launch --config_file params/paper/accelerate/fsdp_1node.yaml -m prolong.cli train \\
        --params params/paper/stages/stage1.yaml                                                (8 GPUs, FSDP)

Running the same command again resumes from the run's newest checkpoint that verifies; a run directory created with
other params is refused (prolong.runs.RunMismatchError).
"""

from __future__ import annotations

import argparse
import sys

from prolong.errors import USER_ERRORS
from prolong.train.config import TrainParams
from prolong.train.loop import train


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--params", required=True, help="stage params file, e.g. params/tiny/stages/stage1.yaml")
    parser.add_argument("--run-name", default=None, help="run folder name under runs/train/ (default: the params' "
                        "name, or one derived from the hyperparameters)")
    parser.add_argument("--max-steps", type=int, default=None, help="stop after this step (with a checkpoint); the LR "
                        "schedule still spans train.steps, and running again continues")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                        help="override one dotted key of the params file (repeatable), checked as strictly as the "
                        "file: an unknown key or a wrong type is an error naming it. A params file with a fixed "
                        "`name` needs --run-name for an overridden run (its run folder holds the file's params)")


def main(args: argparse.Namespace) -> int:
    try:
        params = TrainParams.from_yaml(args.params, overrides=args.overrides)
        run = train(params, run_name=args.run_name, max_steps=args.max_steps)
    except USER_ERRORS as err:  # params, damaged files, a diverged run: the message names the file (prolong.errors)
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"run: {run.path} ({run.status()})")
    return 0
