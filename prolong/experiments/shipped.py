"""Shipped runs: finished stages whose run folder the repository carries, restored instead of trained.

The tiny base model is the analog of the paper's Llama-3-8B-Instruct: every tiny experiment continues from it and
none retrains it. It acquires its skills (the passkey retrieval above all) only after ~2,400 steps of 16 x 256 tokens,
about 20 minutes on 2 CPU cores, which is most of the tiny reproduction's budget; so the repository ships its finished
run under `shipped/train/<run>/` (the run's params.yaml, run.json, status.json, train_log.jsonl and model/, ~6 MB)
and `prolong reproduce` restores it into the run store.

A shipped run is restored only when (1) its name is the stage's run name, which is the fingerprint of the stage's
resolved params (so any change of the base's params trains it afresh), and (2) the tokenizer it was trained with has
the vocabulary hash of the tokenizer the stage would use now (`shipped.json`; the tiny tokenizer is trained on the
tiny corpus, so a change of the corpus generators changes it). Otherwise the stage is trained as usual and one line
says why. To refresh it after such a change: train the stage (`prolong reproduce` does) and run

    python -m prolong.experiments.shipped train/<base run>

which copies the finished run (without checkpoints) into `shipped/` with its tokenizer identity.
"""

from __future__ import annotations

import argparse
import shutil
import sys
from pathlib import Path

from prolong.data.config import resolve_data_path
from prolong.data.tokenizer import identity_of
from prolong.io import atomic_write_json, read_json
from prolong.paths import REPO_ROOT
from prolong.runs import MODEL_DIR, Run

SHIPPED_DIR = REPO_ROOT / "shipped"
RUN_FILES = ("params.yaml", "run.json", "status.json", "train_log.jsonl")
MANIFEST = "shipped.json"


def shipped_path(ref: str, root: Path = SHIPPED_DIR) -> Path:
    return root / ref


def _tokenizer_hash(params: dict) -> str:
    return identity_of(resolve_data_path(params["data"]["tokenizer"])).vocab_hash


def restore_shipped(ref: str, params: dict, log=print, root: Path = SHIPPED_DIR) -> bool:
    """Copy the shipped run `ref` into the run store when it matches (module doc); True when restored."""
    src = shipped_path(ref, root)
    if not (src / MANIFEST).is_file():
        return False
    wanted, shipped = _tokenizer_hash(params), read_json(src / MANIFEST).get("tokenizer_vocab_hash")
    if shipped != wanted:
        log(f"  ! {src}: shipped with another tokenizer (vocab hash {str(shipped)[:12]}, now {wanted[:12]}): "
            f"training {ref} instead")
        return False
    run = Run.at(ref)
    tmp = run.path.parent / f".shipped-{run.name}"
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    for name in RUN_FILES:
        shutil.copy2(src / name, tmp / name)
    shutil.copytree(src / MODEL_DIR, tmp / MODEL_DIR)
    shutil.rmtree(run.path, ignore_errors=True)  # a partial run of the same params: the shipped one replaces it
    tmp.replace(run.path)
    log(f"  = {ref} (restored from {src.relative_to(root.parent) if root.parent in src.parents else src})")
    return True


def ship(ref: str, root: Path = SHIPPED_DIR) -> Path:
    """Copy the finished run `ref` (no checkpoints) to `<root>/<ref>` with the identity of its tokenizer."""
    run = Run.at(ref)
    if not (run.is_done() and (run.path / MODEL_DIR).is_dir()):
        raise FileNotFoundError(f"{run.path}: not a finished training run (status done, with {MODEL_DIR}/)")
    params = run.params()
    out = shipped_path(ref, root)
    shutil.rmtree(out, ignore_errors=True)
    out.mkdir(parents=True)
    for name in RUN_FILES:
        shutil.copy2(run.path / name, out / name)
    shutil.copytree(run.path / MODEL_DIR, out / MODEL_DIR)
    atomic_write_json(out / MANIFEST, {"run": ref, "tokenizer": params["data"]["tokenizer"],
                                       "tokenizer_vocab_hash": _tokenizer_hash(params)})
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m prolong.experiments.shipped", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("ref", help="a finished training run, e.g. train/base-0123456789")
    out = ship(parser.parse_args(argv).ref)
    print(f"shipped {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
