"""What a second `prolong reproduce` may skip: a notebook whose inputs and outputs are as the last batch left them.

A notebook's inputs are its own bytes, its resolved parameters and scale, the project's code and shipped data
(`prolong/`, `params/`, `results/`, the notebooks folder's helper files: by content), the run store and the data
folder (by each file's path, size and modification time: a run trained, evaluated or removed changes it), the
`PROLONG_*` environment and the versions of the packages that draw. Its outputs are its executed copy and HTML
report under build/, and the figures folder (by content: a figure deleted or edited by hand makes every notebook run
again). The stamps (`build/reproduce_stamps.json`) are written at the end of a batch, from the state the batch left,
so the call after a first `make reproduce` that trained everything only checks and skips. Nothing in the stamps is
executed; a damaged stamps file is ignored (every notebook runs).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
from importlib import metadata
from pathlib import Path

from prolong import paths
from prolong.integrity import sha256_file

STAMPS_FILE = "reproduce_stamps.json"
DRAWING_PACKAGES = ("matplotlib", "seaborn", "pandas", "numpy", "torch", "transformers", "papermill", "nbconvert")


def _content(h: "hashlib._Hash", root: Path, pattern: str = "**/*", skip=lambda p: False) -> None:
    for p in sorted(root.glob(pattern)) if root.is_dir() else []:
        if p.is_file() and "__pycache__" not in p.parts and not skip(p):
            h.update(f"{p.relative_to(root)}\0{sha256_file(p)}\n".encode())


def _listing(h: "hashlib._Hash", root: Path) -> None:
    """Path, size and mtime of every file under `root` (run stores hold checkpoints: too big to read each time)."""
    for dirpath, dirnames, filenames in os.walk(root) if root.is_dir() else []:
        dirnames.sort()
        for name in sorted(filenames):
            if name.endswith(".lock"):  # build locks: touched by every call (prolong.tiny.build_tiny), not inputs
                continue
            st = os.stat(os.path.join(dirpath, name))
            h.update(f"{os.path.relpath(os.path.join(dirpath, name), root)}\0{st.st_size}\0{st.st_mtime_ns}\n".encode())


def _versions() -> str:
    found = []
    for name in DRAWING_PACKAGES:
        try:
            found.append(f"{name}={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            found.append(f"{name}=none")
    return f"python={sys.version.split()[0]} " + " ".join(found)


def shared_inputs_digest() -> str:
    """The inputs every notebook shares (computed once per batch)."""
    h = hashlib.sha256()
    _content(h, paths.REPO_ROOT / "prolong", "**/*.py")
    for folder in (paths.PARAMS_DIR, paths.PAPER_RESULTS_DIR.parent):
        _content(h, folder)
    _content(h, paths.NOTEBOOKS_DIR, "*", skip=lambda p: p.suffix == ".ipynb")
    for folder in (paths.runs_dir(), paths.data_dir()):
        h.update(f"\0{folder.name}\0".encode())
        _listing(h, folder)
    env = {k: v for k, v in os.environ.items() if k.startswith("PROLONG_")}
    h.update(json.dumps([env, _versions()], sort_keys=True).encode())
    return h.hexdigest()


def notebook_digest(shared: str, notebook: Path, scale: str, params: dict) -> str:
    h = hashlib.sha256(shared.encode())
    h.update(notebook.read_bytes())
    h.update(json.dumps([scale, params], sort_keys=True, default=str).encode())
    return h.hexdigest()


def figures_digest() -> str:
    h = hashlib.sha256()
    _content(h, paths.figures_dir())
    return h.hexdigest()


def load(build: Path) -> dict:
    """{"notebooks": {stem: digest}, "figures": digest}; empty when missing or unreadable."""
    try:
        stamps = json.loads((build / STAMPS_FILE).read_text())
        return stamps if isinstance(stamps.get("notebooks"), dict) else {}
    except (OSError, ValueError, AttributeError):
        return {}


def save(build: Path, notebooks: dict[str, str]) -> None:
    build.mkdir(parents=True, exist_ok=True)
    (build / STAMPS_FILE).write_text(json.dumps({"notebooks": notebooks, "figures": figures_digest()}, indent=1,
                                                sort_keys=True) + "\n")
