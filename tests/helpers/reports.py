"""What a clean report is: an executed notebook's HTML without a stderr block or an absolute path of this machine."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

from prolong import paths

STDERR_MIME = 'data-mime-type="application/vnd.jupyter.stderr"'  # nbconvert marks a stderr output so (the pink block)


def machine_paths() -> list[str]:
    """Absolute folders of this machine that a report must not show (each with its trailing separator)."""
    found = {str(paths.REPO_ROOT), str(paths.REPO_ROOT.resolve()), sys.prefix, sys.base_prefix, str(Path.home()),
             tempfile.gettempdir(), str(paths.runs_dir()), str(paths.data_dir())}
    return sorted({p.rstrip(os.sep) + os.sep for p in found if len(p) > 1})


def assert_clean_report(html: str, name: str = "report") -> None:
    assert STDERR_MIME not in html, f"{name}: a stderr output in the HTML"
    shown = [p for p in machine_paths() if p in html]
    assert not shown, f"{name}: absolute paths of this machine in the HTML: {shown}"
