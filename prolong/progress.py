"""One rule for progress bars: shown in an interactive terminal, hidden in batch runs (papermill, CI) and whenever
PROLONG_QUIET=1 (which `prolong reproduce` sets for its notebook kernels).

In a batch run nothing else may draw one either: `batch_mode()` (called on `import prolong` when PROLONG_QUIET=1)
turns off the bars of huggingface_hub, datasets and transformers, and tqdm's "IProgress not found" warning, which
`tqdm.auto` gives in a Jupyter kernel without ipywidgets (it names the interpreter's absolute path and would be the
first output of every executed notebook). The `notebooks` extra installs ipywidgets, so JupyterLab users get widget
bars wherever a library draws one.
"""

from __future__ import annotations

import os
import sys
import warnings


def quiet() -> bool:
    return os.environ.get("PROLONG_QUIET") == "1" or not sys.stderr.isatty()


def batch_mode() -> None:
    for var in ("HF_HUB_DISABLE_PROGRESS_BARS", "HF_DATASETS_DISABLE_PROGRESS_BARS"):
        os.environ.setdefault(var, "1")
    os.environ.setdefault("TRANSFORMERS_NO_ADVISORY_WARNINGS", "1")
    # tqdm.autonotebook warns at import (TqdmWarning) and falls back to the plain bar; matched by text
    # so that tqdm need not be imported here
    warnings.filterwarnings("ignore", message=r"IProgress not found")
