"""One rule for progress bars: shown in an interactive terminal, hidden in batch runs (papermill, CI) and whenever
PROLONG_QUIET=1 (which `prolong reproduce` sets for its notebook kernels)."""

from __future__ import annotations

import os
import sys


def quiet() -> bool:
    return os.environ.get("PROLONG_QUIET") == "1" or not sys.stderr.isatty()
