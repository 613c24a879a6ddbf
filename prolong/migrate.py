"""`prolong runs migrate`: convert a run store of the old layout into train/, eval/ and index.jsonl.

The old layout kept a folder per experiment: stage runs under their stage's name (`base/`, `stage1/`, `t15_runs/`),
evaluations under `evals/`, and per arm a result run (`T04/books-s0`, `fig3.pre_sft/long_060-s0`, `T15/reordering`)
that copied its evaluation's files. Migration moves every stage run to `train/` and every evaluation to `eval/`,
renaming fingerprint-named runs to the names the current resolution gives them (their `init_from` / `model`
references rewritten, so a rerun finds them logged), appends one index row per result run (in their creation order)
and moves the result runs, whose content is copies, to `runs/migrated-old-layout/` (delete it when satisfied).
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path
from typing import Any

import yaml

from prolong import paths
from prolong.config import read_yaml
from prolong.io import atomic_write_json, atomic_write_text, read_json
from prolong.runs import KINDS, Run, append_index, params_fingerprint

ATTIC = "migrated-old-layout"
_FINGERPRINTED = re.compile(r"^(.*)-[0-9a-f]{10}$")


def _old_runs(root: Path) -> list[Run]:
    folders = [p for p in sorted(root.iterdir()) if p.is_dir() and p.name not in KINDS
               and not p.name.startswith("bench") and p.name != ATTIC]
    return [Run(r.parent) for f in folders for r in sorted(f.glob("*/run.json"))]


def _move(run: Run, root: Path, kind: str, name: str, params: dict[str, Any]) -> str:
    """Move `run` to <kind>/<name> with `params` as its logged params; return the new ref."""
    dest = root / kind / name
    if dest.exists():
        raise FileExistsError(f"{dest}: already exists; cannot migrate {run.path} onto it")
    dest.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(run.path), str(dest))
    identity = read_json(dest / "run.json")
    identity.pop("experiment", None)
    identity.update(kind=kind, run=name, params_fingerprint=params_fingerprint(params))
    atomic_write_text(dest / "params.yaml", yaml.safe_dump(params, sort_keys=False))
    atomic_write_json(dest / "run.json", identity)
    return f"{kind}/{name}"


def _columns(scale: str, experiment: str) -> dict[str, str]:
    spec = paths.PARAMS_DIR / scale / "experiments" / f"{experiment}.yaml"
    return dict(read_yaml(spec).get("columns") or {}) if spec.is_file() else {}


def migrate(root: str | Path | None = None, scale: str = "tiny", log=print) -> dict[str, int]:
    """Convert the store at `root` (default: the run store); return how many runs of each kind were converted."""
    root = Path(root) if root is not None else paths.runs_dir()
    runs = _old_runs(root)
    stages = [r for r in runs if isinstance(r.params().get("train"), dict) and "model" in r.params()]
    evals = [r for r in runs if r not in stages and {"model", "eval"} <= set(r.params())]
    results = [r for r in runs if r not in stages and r not in evals]
    moved: dict[str, str] = {}  # old ref -> new ref

    # stages in chain order: a stage is renamed once the run it starts from is
    pending = list(stages)
    while pending:
        ready = [r for r in pending if r.params()["train"].get("init_from") not in
                 {f"{p.path.parent.name}/{p.name}" for p in pending}]
        if not ready:
            raise ValueError(f"{root}: init_from references form a cycle among {[str(r.path) for r in pending]}")
        for run in ready:
            params = run.params()
            old_ref = f"{run.path.parent.name}/{run.name}"
            init = params["train"].get("init_from")
            params["train"]["init_from"] = moved.get(init, init)
            m = _FINGERPRINTED.match(run.name)
            name = f"{m.group(1)}-{params_fingerprint({**params, 'name': None})[:10]}" if m else run.name
            params["name"] = name
            moved[old_ref] = _move(run, root, "train", name, params)
            log(f"  {old_ref} -> {moved[old_ref]}")
        pending = [r for r in pending if r not in ready]

    rows = []
    for run in evals:
        params, old_ref = run.params(), f"{run.path.parent.name}/{run.name}"
        params["model"] = moved.get(params["model"], params["model"])
        label = params.pop("label", None)
        if run.path.parent.name == "evals" and params["model"].startswith("train/"):
            name = f"{params['model'].split('/', 1)[1]}-{params_fingerprint(params)[:10]}"
        else:
            name = run.name
        created = int(read_json(run.path / "run.json").get("created_ns", 0))
        moved[old_ref] = _move(run, root, "eval", name, params)
        log(f"  {old_ref} -> {moved[old_ref]}")
        if run.path.parent.name != "evals":  # `prolong eval --experiment X --run-name Y`: an arm of X
            rows.append({"experiment": old_ref.split("/")[0], "arm": name, "seed": 0, "label": label or name,
                         "eval": moved[old_ref], "created_ns": created})

    pre_sft = {(r.path.parent.name[: -len(".pre_sft")], r.name): r.params().get("evaluation")
               for r in results if r.path.parent.name.endswith(".pre_sft")}
    for run in results:
        folder, p = run.path.parent.name, run.params()
        if folder.endswith(".pre_sft"):
            continue
        scores, created = run.scores(), int(read_json(run.path / "run.json").get("created_ns", 0))
        if "evaluation" in p:  # an experiment arm's result run
            arm = p["arm"]
            rows.append({
                "experiment": folder, "arm": arm["name"], "seed": p["seed"], "label": p["label"], "x": arm.get("x"),
                "stages": [moved.get(s, s) for s in p["stages"]], "own_stages": len(arm.get("stages") or []),
                "sft": moved.get(p["sft"], p["sft"]) if p.get("sft") else None,
                "eval": moved.get(p["evaluation"], p["evaluation"]),
                "pre_sft_eval": (lambda e: moved.get(e, e) if e else None)(pre_sft.get((folder, run.name))),
                "columns": _columns(scale, folder),
                "scores": {k: scores[k] for k in ("train_tokens", "x") if k in scores}, "created_ns": created})
        elif "stage" in p:  # a T15 result run: tokens/s of one training run
            rows.append({"experiment": folder, "arm": run.name, "seed": 0, "label": p["label"],
                         "stages": [moved.get(p["stage"], p["stage"])], "own_stages": 1,
                         "scores": {k: v for k, v in scores.items() if k not in ("change", "measured_s")},
                         "created_ns": created})
        else:
            raise ValueError(f"{run.path}: not a run of the old layout this command knows; move it away by hand")
    for row in sorted(rows, key=lambda r: r["created_ns"]):
        append_index(row, root)
    for run in results:
        dest = root / ATTIC / run.path.parent.name / run.name
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(str(run.path), str(dest))
    for folder in {r.path.parent for r in runs}:
        if folder.is_dir() and not any(folder.iterdir()):
            folder.rmdir()
    return {"train": len(stages), "eval": len(evals), "index rows": len(rows), "result runs set aside": len(results)}
