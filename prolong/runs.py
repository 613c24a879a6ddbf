"""The run store: one directory per logged run, and one call that loads any set of runs as a tidy table.

Layout of a run (`runs/<experiment>/<run>/`, the root is `prolong.paths.runs_dir()`):

    run.json          identity: experiment, run, params fingerprint, created (written once)
    params.yaml       the resolved params that produced the run (written once; a rerun with other params is refused)
    status.json       {"status": "running" | "done" | "failed", "updated": ISO time, "message": str}
    train_log.jsonl   one JSON object per optimizer step (loss, lr, grad_norm, tokens per domain, tokens/s, ...)
    eval/<dataset>__<length>.json
                      HELMET-style output of one (dataset, input length): "args", "data" (per-item output, parsed
                      output, input length, metrics), "averaged_metrics" (x100), "throughput", "memory"
    scores.json       {"<metric>": value, ...}: run-level scores (category averages, PPL, short-task accuracy)
    checkpoints/      training state (see prolong.train)
    model/            a finished training stage's model in Hugging Face format (MODEL_DIR; next stage, evaluation)

Every whole-file write is atomic (`prolong.io`), so a crash never leaves a file that a reader takes as complete; a
run is complete only when status.json says "done".

The tidy table (`load_runs`) has one row per (source, experiment, run, metric):
    source      "paper" for the published numbers, "runs" (or a name you give) for logged runs
    experiment  e.g. "T04" for a paper table, or the experiment folder of a logged run
    run         unique id of the run within its experiment: the run folder name, or the paper's row label
                (suffixed " #2" where the paper repeats a label, e.g. two "Llama-3.1" rows in T10)
    label       what a table's first column shows: the paper's row label, or the run's `label` param (else its name)
    order       row order within an experiment (the paper's row order; creation order for runs)
    dataset     HELMET dataset for eval rows, "" for run-level scores
    length      evaluation input length in tokens for eval rows, 0 otherwise
    metric      column name (e.g. "Recall", "Avg") or HELMET metric name
    value       float (NaN when the cell is not a number, e.g. "<0.1" or blank)
    display     the value as text (the published string for the paper)
    status      run status ("done" for the paper)
"""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import pandas as pd
import yaml

from prolong import paths
from prolong.io import CorruptFileError, append_jsonl, atomic_write_json, atomic_write_text, iter_jsonl, read_json

STATUSES = ("running", "done", "failed")
MODEL_DIR = "model"  # a finished stage's model (Hugging Face format) inside its run directory
TIDY_COLUMNS = ["source", "experiment", "run", "label", "order", "dataset", "length", "metric", "value", "display",
                "status"]
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=@,-]*$")


class RunMismatchError(ValueError):
    """A run directory that was created with other params than the ones given now."""


def params_fingerprint(params: dict[str, Any]) -> str:
    """Stable short hash of resolved params (key order does not matter)."""
    blob = json.dumps(params, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


def _now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _check_name(kind: str, name: str) -> None:
    if not _NAME.match(name):
        raise ValueError(f"invalid {kind} name {name!r}: use letters, digits and ._+=@,- (no slashes or spaces)")


@dataclass
class Run:
    """A handle on one run directory; create with `Run.open(...)`."""

    path: Path

    @property
    def experiment(self) -> str:
        return self.path.parent.name

    @property
    def name(self) -> str:
        return self.path.name

    # ---- creating / reopening -------------------------------------------------------------------------------
    @classmethod
    def open(cls, experiment: str, name: str, params: dict[str, Any], root: str | Path | None = None) -> "Run":
        """Create the run, or reopen it to resume. Reopening with different params raises `RunMismatchError`
        naming the differing key, and nothing in the directory is touched."""
        _check_name("experiment", experiment)
        _check_name("run", name)
        root = Path(root) if root is not None else paths.runs_dir()
        run = cls(root / experiment / name)
        fingerprint = params_fingerprint(params)
        identity = run.path / "run.json"
        if identity.exists():
            stored = read_json(identity)
            if stored.get("params_fingerprint") != fingerprint:
                old = run.params()
                raise RunMismatchError(
                    f"{run.path / 'params.yaml'}: this run directory was made with other params "
                    f"({_first_difference(old, params)}); use another run name or delete the directory"
                )
            return run
        run.path.mkdir(parents=True, exist_ok=True)
        atomic_write_text(run.path / "params.yaml", yaml.safe_dump(params, sort_keys=False))
        atomic_write_json(
            identity,
            {"experiment": experiment, "run": name, "params_fingerprint": fingerprint, "created": _now(),
             "created_ns": time.time_ns()},
        )
        run.set_status("running")
        return run

    # ---- writing -----------------------------------------------------------------------------------------
    def set_status(self, status: str, message: str = "") -> None:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        atomic_write_json(self.path / "status.json", {"status": status, "updated": _now(), "message": message})

    def log_step(self, record: dict[str, Any]) -> None:
        """Append one optimizer step to train_log.jsonl (must carry "step")."""
        if "step" not in record:
            raise ValueError("a training log record needs a 'step'")
        append_jsonl(self.path / "train_log.jsonl", record)

    def truncate_log(self, last_step: int) -> None:
        """Drop log records after `last_step` (a resumed run re-logs the steps after its checkpoint)."""
        log = self.path / "train_log.jsonl"
        if not log.exists():
            return
        kept = [r for r in iter_jsonl(log) if r["step"] <= last_step]
        atomic_write_text(log, "".join(json.dumps(r) + "\n" for r in kept))

    def write_eval(self, dataset: str, length: int, result: dict[str, Any]) -> Path:
        """Write one HELMET-style result (needs "averaged_metrics")."""
        _check_name("dataset", dataset)
        if "averaged_metrics" not in result:
            raise ValueError("an eval result needs 'averaged_metrics'")
        out = self.path / "eval" / f"{dataset}__{int(length)}.json"
        atomic_write_json(out, result)
        return out

    def write_scores(self, scores: dict[str, float]) -> None:
        """Merge run-level scores into scores.json."""
        merged = self.scores()
        merged.update({k: float(v) for k, v in scores.items()})
        atomic_write_json(self.path / "scores.json", merged)

    # ---- reading -----------------------------------------------------------------------------------------
    def params(self) -> dict[str, Any]:
        p = self.path / "params.yaml"
        try:
            return yaml.safe_load(p.read_text()) or {}
        except FileNotFoundError as err:
            raise FileNotFoundError(f"{p}: file not found (not a run directory?)") from err
        except yaml.YAMLError as err:
            raise CorruptFileError(f"{p}: corrupt YAML ({err})") from err

    def status(self) -> str:
        return read_json(self.path / "status.json")["status"]

    def is_done(self) -> bool:
        return (self.path / "status.json").exists() and self.status() == "done"

    def scores(self) -> dict[str, float]:
        p = self.path / "scores.json"
        return read_json(p) if p.exists() else {}

    def train_log(self) -> pd.DataFrame:
        p = self.path / "train_log.jsonl"
        return pd.DataFrame(list(iter_jsonl(p))) if p.exists() else pd.DataFrame()

    def evals(self) -> list[tuple[str, int, dict[str, Any]]]:
        out = []
        for p in sorted((self.path / "eval").glob("*.json")):
            dataset, _, length = p.stem.rpartition("__")
            if not dataset or not length.isdigit():
                raise CorruptFileError(f"{p}: eval files are named <dataset>__<length>.json")
            result = read_json(p)
            if "averaged_metrics" not in result:
                raise CorruptFileError(f"{p}: missing 'averaged_metrics'")
            out.append((dataset, int(length), result))
        return out

    def created_ns(self) -> int:
        return int(read_json(self.path / "run.json").get("created_ns", 0))


def _first_difference(old: Any, new: Any, prefix: str = "") -> str:
    if isinstance(old, dict) and isinstance(new, dict):
        for k in list(old) + [k for k in new if k not in old]:
            if k not in old:
                return f"key {prefix + str(k)!r} is new"
            if k not in new:
                return f"key {prefix + str(k)!r} is missing"
            if old[k] != new[k]:
                return _first_difference(old[k], new[k], f"{prefix}{k}.")
        return "same keys, different values"
    return f"{prefix.rstrip('.')!r} was {old!r}, now {new!r}"


# ---- loading many runs as one tidy table -------------------------------------------------------------------

def _fmt(value: float) -> str:
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1f}"


def iter_runs(root: str | Path | None = None, experiments: Iterable[str] | None = None) -> list[Run]:
    """All run directories under `root` (those with a run.json), optionally only some experiments."""
    root = Path(root) if root is not None else paths.runs_dir()
    wanted = set(experiments) if experiments is not None else None
    runs = []
    for identity in sorted(root.glob("*/*/run.json")):
        run = Run(identity.parent)
        if wanted is None or run.experiment in wanted:
            runs.append(run)
    return runs


def runs_table(root: str | Path | None = None, experiments: Iterable[str] | None = None,
               source: str = "runs", include_unfinished: bool = False) -> pd.DataFrame:
    """Tidy rows of the logged runs under `root`: their scores.json and every eval result's averaged metrics."""
    rows: list[dict[str, Any]] = []
    for run in iter_runs(root, experiments):
        status = read_json(run.path / "status.json")["status"] if (run.path / "status.json").exists() else "running"
        if status != "done" and not include_unfinished:
            continue
        order = run.created_ns()
        label = str(run.params().get("label", run.name))
        base = {"source": source, "experiment": run.experiment, "run": run.name, "label": label, "order": order,
                "status": status}
        for metric, value in run.scores().items():
            rows.append({**base, "dataset": "", "length": 0, "metric": metric, "value": float(value),
                         "display": _fmt(float(value))})
        for dataset, length, result in run.evals():
            for metric, value in result["averaged_metrics"].items():
                if isinstance(value, (int, float)) and not isinstance(value, bool):
                    rows.append({**base, "dataset": dataset, "length": length, "metric": metric,
                                 "value": float(value), "display": _fmt(float(value))})
    return pd.DataFrame(rows, columns=TIDY_COLUMNS)


def load_runs(sources: Iterable[str] = ("paper", "runs"), experiments: Iterable[str] | None = None,
              runs_root: str | Path | None = None, include_unfinished: bool = False) -> pd.DataFrame:
    """Load any set of run sources as one tidy table (columns `TIDY_COLUMNS`).

    A source is "paper" (the published tables, `results/paper/`), "runs" (the run store) or a path to another run
    store (its source name is the folder name)."""
    from prolong.results import paper_table  # local import: results imports this module

    frames = []
    for src in sources:
        if src == "paper":
            frames.append(paper_table(experiments=experiments))
        elif src == "runs":
            frames.append(runs_table(runs_root, experiments, "runs", include_unfinished))
        else:
            p = Path(src)
            if not p.is_dir():
                raise FileNotFoundError(f"{p}: run source not found (use 'paper', 'runs' or a run-store folder)")
            frames.append(runs_table(p, experiments, p.name, include_unfinished))
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=TIDY_COLUMNS)
    return pd.concat(frames, ignore_index=True)
