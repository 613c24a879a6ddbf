"""The tiny base model as the repository ships it: the analog of the released Llama-3-8B checkpoint the paper starts
from, so that a fresh clone's `make reproduce` spends its CPU minutes on the paper's experiments, not on pretraining.

`results/tiny_base/<run>/` is the last stage of `params/tiny/base_chain.yaml` exactly as the run store logged it
(params.yaml, run.json, status.json, train_log.jsonl, model/), and `MANIFEST.json` records each file's SHA-256. A run's
name is the fingerprint of its resolved params and of the tiny world's generators (prolong.experiments.graph.
stage_name), so the shipped run is installed only into a chain that names it: change the base chain or the tiny
world and the name no longer matches, the base trains from scratch, and tests/tiny/test_shipped_base.py fails until
`make tiny-base` ships the new one. The same commit trains the same bits on any machine of the same kind (fixed
thread counts: prolong/determinism.py), so installing it changes no result, only the time.

`PROLONG_TRAIN_BASE=1` trains the base instead (about 13 minutes on 2 cores).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path

from prolong import paths
from prolong.runs import MODEL_DIR, Run

SHIPPED_DIR = paths.REPO_ROOT / "results" / "tiny_base"
MANIFEST = "MANIFEST.json"
FILES = ("params.yaml", "run.json", "status.json", "train_log.jsonl")  # and every file of model/


def sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def train_base_requested() -> bool:
    return os.environ.get("PROLONG_TRAIN_BASE", "") not in ("", "0")


def shipped_files(run_dir: Path) -> list[Path]:
    """The files of a logged run that ship (its checkpoints/ and tensorboard/ stay behind)."""
    out = [run_dir / f for f in FILES if (run_dir / f).is_file()]
    return out + sorted(p for p in (run_dir / MODEL_DIR).rglob("*") if p.is_file())


def read_manifest(root: Path = SHIPPED_DIR) -> dict:
    path = root / MANIFEST
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return {}
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{path}: not a readable manifest ({e})") from e


def check_shipped(root: Path = SHIPPED_DIR) -> list[str]:
    """Problems with the shipped run (each naming its file): a file missing, or not the bytes the manifest records."""
    manifest = read_manifest(root)
    problems = []
    for rel, digest in manifest.get("files", {}).items():
        path = root / manifest["run"] / rel
        if not path.is_file():
            problems.append(f"{path}: missing")
        elif sha256(path) != digest:
            problems.append(f"{path}: not the bytes {root / MANIFEST} records (damaged or edited)")
    return problems


def install_shipped_base(stages, log=print, root: Path = SHIPPED_DIR, runs_root: str | Path | None = None) -> bool:
    """Copy the shipped base into the run store if one of `stages` (an arm's chain) names it and it is not logged
    there yet; True if installed. A damaged shipped file is reported by name and the base trains instead (nothing
    is overwritten: the copy goes to a temporary folder first)."""
    if train_base_requested():
        return False
    manifest = read_manifest(root)
    name = manifest.get("run")
    stage = next((s for s in stages if s.name == name), None)
    if stage is None:
        return False
    dest = Run.at(stage.ref, runs_root)
    if (dest.path / MODEL_DIR).is_dir() and dest.is_done():
        return False
    problems = check_shipped(root)
    if problems:
        log("  ! the shipped tiny base is not usable, training it instead: " + "; ".join(problems))
        return False
    if dest.path.exists():  # a stopped training of the same run: kept beside, never deleted
        dest.path.rename(dest.path.with_name(dest.path.name + ".stopped"))
    tmp = dest.path.with_name("." + dest.path.name + ".installing")
    shutil.rmtree(tmp, ignore_errors=True)
    for rel in manifest["files"]:
        (tmp / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(root / name / rel, tmp / rel)
    tmp.rename(dest.path)
    log(f"  = {stage.ref} (shipped: {root.relative_to(paths.REPO_ROOT) if root.is_relative_to(paths.REPO_ROOT) else root})")
    return True


def write_shipped_base(run_dir: Path, root: Path = SHIPPED_DIR) -> dict:
    """Ship a logged run (`make tiny-base`): copy its files under `root/<run>/` and write the manifest."""
    run_dir = Path(run_dir)
    if not ((run_dir / MODEL_DIR).is_dir() and Run.at(f"train/{run_dir.name}", run_dir.parent.parent).is_done()):
        raise FileNotFoundError(f"{run_dir}: not a finished training run")
    shutil.rmtree(root, ignore_errors=True)
    files = {}
    for src in shipped_files(run_dir):
        rel = src.relative_to(run_dir).as_posix()
        (root / run_dir.name / rel).parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, root / run_dir.name / rel)
        files[rel] = sha256(src)
    manifest = {"run": run_dir.name, "files": files}
    (root / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest
