"""The `prolong` command.

    prolong reproduce [--scale tiny|paper] [--notebooks 01 02 ...]   run the section notebooks (papermill batch)
    prolong report [--tables T04 ...] [--sources paper runs]         write figures/tables from logged runs
    prolong data ...                                                 build corpora, tokenizers, token stores
    prolong train --params params/tiny/stages/stage1.yaml                   one training stage (or SFT)
    prolong eval --model <dir> --tasks ... --lengths ...             HELMET-style evaluation of a saved model
"""

from __future__ import annotations

import argparse
import importlib
import sys

# Subcommands implemented by the library's parts; each module exposes add_arguments(parser) and main(args) -> int.
_DELEGATED = {
    "data": ("prolong.data.cli", "build corpora, tokenizers and token stores; data statistics"),
    "train": ("prolong.train.cli", "run a training stage (Stage 1, Stage 2, SFT) from a params file"),
    "eval": ("prolong.eval.cli", "evaluate a saved model on HELMET-style tasks and log the run"),
}


def _reproduce(args: argparse.Namespace) -> int:
    from prolong.batch import reproduce

    results = reproduce(args.scale, args.notebooks or None)
    failed = [r for r in results if not r.ok]
    total = sum(r.seconds for r in results)
    print(f"{len(results) - len(failed)}/{len(results)} notebooks ran ({total:.1f}s); figures in figures/, "
          f"executed notebooks and HTML in build/")
    for r in failed:
        print(f"FAILED {r.notebook}: {r.error}", file=sys.stderr)
    return 1 if failed else 0


def _report(args: argparse.Namespace) -> int:
    from prolong.report import render_all
    from prolong.runs import load_runs

    written = render_all(load_runs(args.sources), args.tables or None)
    print(f"wrote {len(written)} files under figures/")
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="prolong", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("reproduce", help="execute every section notebook with papermill")
    p.add_argument("--scale", default="tiny", help="params/<scale>/ to use (tiny or paper)")
    p.add_argument("--notebooks", nargs="*", help="only these notebooks (stem or prefix, e.g. 02)")
    p.set_defaults(func=_reproduce)

    p = sub.add_parser("report", help="render the paper's tables and figures from logged runs")
    p.add_argument("--tables", nargs="*", help="table ids (default: all)")
    p.add_argument("--sources", nargs="*", default=["paper", "runs"], help="run sources: paper, runs, or a folder")
    p.set_defaults(func=_report)

    for name, (module, help_text) in _DELEGATED.items():
        p = sub.add_parser(name, help=help_text)
        try:
            mod = importlib.import_module(module)
        except ModuleNotFoundError as err:
            if err.name and not module.startswith(err.name) and err.name != module:
                raise
            p.set_defaults(func=lambda _a, m=module: _missing(m))
            continue
        mod.add_arguments(p)
        p.set_defaults(func=mod.main)
    return parser


def _missing(module: str) -> int:
    print(f"{module} is not available in this installation", file=sys.stderr)
    return 2


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    return int(args.func(args) or 0)


if __name__ == "__main__":
    raise SystemExit(main())
