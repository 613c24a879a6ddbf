"""Absolute paths of the project, so papermill and the CLI work from any current directory."""

from __future__ import annotations

import os
from pathlib import Path

# The repository root: the folder above the `prolong` package (an editable install keeps it there).
REPO_ROOT = Path(__file__).resolve().parent.parent

PARAMS_DIR = REPO_ROOT / "params"
NOTEBOOKS_DIR = REPO_ROOT / "notebooks"
PAPER_RESULTS_DIR = REPO_ROOT / "results" / "paper"
BENCHMARKS_DIR = REPO_ROOT / "benchmarks"
# the tiny scale's tokenizer under the data root (`prolong data build-tiny` trains it; every tiny store is tokenized
# with it, so a stage that names it reads the tiny world)
TINY_TOKENIZER = "tiny/tokenizer"


def runs_dir() -> Path:
    """The run store; `PROLONG_RUNS` overrides the default `<repo>/runs` (tests point it at a temp dir)."""
    return Path(os.environ.get("PROLONG_RUNS", REPO_ROOT / "runs")).resolve()


def figures_dir() -> Path:
    """Generated figures (`T{NN}.png`) and tables (`tables/T{NN}.csv|md`); `PROLONG_FIGURES` overrides."""
    return Path(os.environ.get("PROLONG_FIGURES", REPO_ROOT / "figures")).resolve()


def build_dir() -> Path:
    """Executed notebooks and HTML reports (git-ignored); `PROLONG_BUILD` overrides."""
    return Path(os.environ.get("PROLONG_BUILD", REPO_ROOT / "build")).resolve()


def data_dir() -> Path:
    """Built corpora, tokenizers and token stores (git-ignored); `PROLONG_DATA` overrides."""
    return Path(os.environ.get("PROLONG_DATA", REPO_ROOT / "data")).resolve()
