"""The `prolong` command imports only the part it runs: `prolong train` must not pay for the notebook batch, the
report or the tiny world (together about 6 s of imports on 2 cores), and `import prolong.cli` pulls in none of them."""

from __future__ import annotations

import subprocess
import sys

from prolong import cli

HEAVY = ("torch", "nbformat", "prolong.batch", "prolong.report", "prolong.tiny", "prolong.migrate")


def _imported_after(code: str) -> set[str]:
    probe = f"import sys\n{code}\nprint(' '.join(m for m in {HEAVY!r} if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True)
    return set(out.stdout.split())


def test_importing_the_command_imports_no_part():
    assert _imported_after("import prolong.cli") == set()


def test_a_subcommand_imports_its_own_part_only():
    loaded = _imported_after("from prolong import cli; cli.build_parser('data')")
    assert loaded == set()  # the data part is argparse and dataclasses until it runs
    loaded = _imported_after("from prolong import cli; cli.build_parser('train')")
    assert "torch" in loaded and not loaded & {"nbformat", "prolong.batch", "prolong.report", "prolong.migrate"}


def test_the_partial_parser_parses_like_the_whole_one():
    argv = ["train", "--params", "params/tiny/stages/stage1.yaml", "--set", "optim.lr=1e-4"]
    whole, part = cli.build_parser().parse_args(argv), cli.build_parser("train").parse_args(argv)
    assert {k: v for k, v in vars(whole).items() if k != "func"} == {k: v for k, v in vars(part).items() if k != "func"}
    assert whole.func is part.func
