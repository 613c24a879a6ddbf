"""The run store: training runs, evaluation runs, and one append-only index of finished arms.

Layout (the root is `prolong.paths.runs_dir()`):

    train/<stage>-<fingerprint>/   one training stage (an experiment's stages are named by the fingerprint of their
                                   resolved params; a stage trained by hand is named by its params' `name`)
    eval/<model>-<fingerprint>/    one evaluation of one training run's final model (fingerprint of {model, eval})
    index.jsonl                    one line per finished arm of an experiment (`INDEX_FIELDS`), appended once and
                                   never rewritten; a later line for the same (experiment, arm, seed) supersedes
                                   an earlier one

A run is referred to as "<kind>/<name>" (e.g. `train/stage1-0123456789`, the form of `train.init_from`).

Inside a run directory:

    run.json          identity: kind, run, params fingerprint, created (written once)
    params.yaml       the resolved params that produced the run (written once; a rerun with other params is refused)
    status.json       {"status": "running" | "done" | "failed", "updated": ISO time, "message": str}
    train_log.jsonl   one JSON object per optimizer step (loss, lr, grad_norm, tokens per domain, tokens/s, ...)
    tensorboard/      the same steps as TensorBoard scalars (prolong.curves; `tensorboard --logdir runs/`)
    eval/<dataset>__<length>.json
                      HELMET-style output of one (dataset, input length): "args", "data" (per-item output, parsed
                      output, input length, metrics), "averaged_metrics" (x100), "throughput", "memory"
    scores.json       {"<metric>": value, ...}: run-level scores (category averages, PPL, short-task accuracy)
    checkpoints/      training state (see prolong.train)
    model/            a finished training stage's model in Hugging Face format (MODEL_DIR; next stage, evaluation),
                      with its model card README.md (prolong.train.model_card, written when the run is done)

Every whole-file write is atomic and every index line is one fsync'ed write (`prolong.io`), so a crash never leaves a
file that a reader takes as complete; a run is complete only when status.json says "done".

`prolong.run_table.load_runs` joins the index to the eval runs' results as the tidy table of `prolong.tidy` (the published numbers are
one more source, `prolong.results`). Run stores of the old layout (a folder per experiment, `evals/`, `<id>.pre_sft`
and result runs that copied their evaluation) are refused with `OldLayoutError`; `prolong runs migrate` converts them.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

import pandas as pd
import yaml

from prolong import curves, paths
from prolong.errors import ProlongError
from prolong.io import (CorruptFileError, append_jsonl, atomic_write_json, atomic_write_text, iter_jsonl,
                        iter_jsonl_numbered, read_json)

STATUSES = ("running", "done", "failed")
KINDS = ("train", "eval")  # the experiments' two kinds of runs (benchmarks log under their own bench_* folders)
MODEL_DIR = "model"  # a finished stage's model (Hugging Face format) inside its run directory
INDEX = "index.jsonl"
INDEX_FIELDS = {
    "experiment": "experiment id (e.g. T04, fig3)",
    "arm": "the arm's name in the experiment file",
    "seed": "seed of the arm's own stages",
    "label": "the arm's row label in the paper's table",
    "x": "the arm's coordinate for figures (null when it has none)",
    "stages": "the training runs of the arm before SFT, in order ('train/<run>'; the shared base chain first)",
    "own_stages": "how many of `stages` are the arm's own (after the base chain)",
    "sft": "the SFT training run, or null",
    "eval": "the evaluation run of the final model ('eval/<run>'), or null (an arm measured from its training log)",
    "pre_sft_eval": "the evaluation run of the model before SFT, or null",
    "columns": "score -> the table's column name where they differ (e.g. Recall -> JsonKV@512K)",
    "scores": "the arm's own scores: train_tokens, x, and metrics read from its training log",
    "created": "ISO time the arm was indexed",
}
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+=@,-]*$")


class RunMismatchError(ValueError):
    """A run directory that was created with other params than the ones given now."""


class OldLayoutError(ProlongError, RuntimeError):
    """A run store written by an older version (one folder per experiment); `prolong runs migrate` converts it."""


class DamagedRunWarning(UserWarning):
    """A run (or index line) that could not be read and was left out of the tidy table; the message names the file
    and why. `load_runs(..., strict=True)` (or PROLONG_STRICT=1) raises the `CorruptFileError` instead."""


# Called as hook(run, status) after a run's status is written; what a finished run also produces registers here
# (prolong.train.model_card, registered by the prolong.train package: the card of a done stage's model, refreshed when
# an evaluation of it is done). A list here, not imports, so the run store depends on none of them.
ON_STATUS: list[Callable[["Run", str], None]] = []


# What reading one damaged run can raise: every reader names the file in its message.
DAMAGE = (CorruptFileError, FileNotFoundError, KeyError, TypeError, ValueError)


def strict_default(strict: bool | None) -> bool:
    """`strict` as given, else the PROLONG_STRICT environment variable (the notebooks' kernels inherit it from
    `prolong reproduce --strict`)."""
    return strict if strict is not None else os.environ.get("PROLONG_STRICT", "") not in ("", "0")


def skip_damaged(err: BaseException, what: str, strict: bool) -> None:
    """One warning line naming the damaged file and why; in strict mode the error itself."""
    if strict:
        raise err if isinstance(err, CorruptFileError) else CorruptFileError(str(err)) from err
    warnings.warn(f"skipped {what}: {err}", DamagedRunWarning, stacklevel=3)


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
    def kind(self) -> str:
        return self.path.parent.name

    @property
    def name(self) -> str:
        return self.path.name

    @property
    def ref(self) -> str:
        """'<kind>/<name>', how the index and `train.init_from` name the run."""
        return f"{self.kind}/{self.name}"

    @classmethod
    def at(cls, ref: str, root: str | Path | None = None) -> "Run":
        """The run named `ref` ('<kind>/<name>') under the run store."""
        return cls((Path(root) if root is not None else paths.runs_dir()) / ref)

    # ---- creating / reopening -------------------------------------------------------------------------------
    @classmethod
    def open(cls, kind: str, name: str, params: dict[str, Any], root: str | Path | None = None) -> "Run":
        """Create the run `<kind>/<name>` ("train" or "eval"), or reopen it to resume. Reopening with different
        params raises `RunMismatchError` naming the differing key, and nothing in the directory is touched."""
        _check_name("kind", kind)
        _check_name("run", name)
        root = Path(root) if root is not None else paths.runs_dir()
        check_layout(root)
        run = cls(root / kind / name)
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
            {"kind": kind, "run": name, "params_fingerprint": fingerprint, "created": _now(),
             "created_ns": time.time_ns()},
        )
        run.set_status("running")
        return run

    # ---- writing -----------------------------------------------------------------------------------------
    def set_status(self, status: str, message: str = "") -> None:
        if status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {status!r}")
        if status != "running":
            curves.close(self.path)  # the event files are complete
        atomic_write_json(self.path / "status.json", {"status": status, "updated": _now(), "message": message})
        for hook in ON_STATUS:
            hook(self, status)

    def log_step(self, record: dict[str, Any]) -> None:
        """Append one optimizer step to train_log.jsonl (must carry "step")."""
        if "step" not in record:
            raise ValueError("a training log record needs a 'step'")
        append_jsonl(self.path / "train_log.jsonl", record)
        curves.log(self.path, record)  # TensorBoard (and W&B when asked for): a view, the JSONL stays the record

    def truncate_log(self, last_step: int) -> None:
        """Drop log records after `last_step` (a resumed run re-logs the steps after its checkpoint)."""
        log = self.path / "train_log.jsonl"
        if not log.exists():
            return
        kept = [r for r in iter_jsonl(log) if r["step"] <= last_step]
        atomic_write_text(log, "".join(json.dumps(r) + "\n" for r in kept))
        curves.restart_at(self.path, last_step + 1)

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
        p = self.path / "status.json"
        record = read_json(p)
        status = record.get("status") if isinstance(record, dict) else None
        if status not in STATUSES:
            found = f"status {status!r}" if isinstance(record, dict) and "status" in record else "no 'status' key"
            raise CorruptFileError(f"{p}: {found} (expected one of {', '.join(STATUSES)})")
        return status

    def is_done(self) -> bool:
        return (self.path / "status.json").exists() and self.status() == "done"

    def scores(self) -> dict[str, float]:
        p = self.path / "scores.json"
        if not p.exists():
            return {}
        scores = read_json(p)
        if not isinstance(scores, dict):
            raise CorruptFileError(f"{p}: expected a JSON object of scores, got {type(scores).__name__}")
        return scores

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
            if not isinstance(result, dict) or not isinstance(result.get("averaged_metrics"), dict):
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


def iter_runs(root: str | Path | None = None, kind: str | None = None) -> list[Run]:
    """Every run directory (with a run.json) under train/ and eval/, or under one of them."""
    root = Path(root) if root is not None else paths.runs_dir()
    return [Run(p.parent) for k in ([kind] if kind else KINDS) for p in sorted((root / k).glob("*/run.json"))]


# ---- the index of finished arms -------------------------------------------------------------------------------

def index_path(root: str | Path | None = None) -> Path:
    return (Path(root) if root is not None else paths.runs_dir()) / INDEX


def append_index(row: dict[str, Any], root: str | Path | None = None) -> dict[str, Any]:
    """Append one finished arm to runs/index.jsonl (one line, one write); the line is never rewritten."""
    unknown = set(row) - set(INDEX_FIELDS) - {"created_ns"}
    missing = {"experiment", "arm", "seed", "label"} - set(row)
    if unknown or missing:
        raise ValueError(f"index row: unknown fields {sorted(unknown)}" if unknown else
                         f"index row: missing fields {sorted(missing)}")
    full = {k: row.get(k) for k in INDEX_FIELDS}
    full.update(columns=row.get("columns") or {}, scores=row.get("scores") or {}, stages=row.get("stages") or [],
                own_stages=int(row.get("own_stages") or 0), created=row.get("created") or _now(),
                created_ns=row.get("created_ns") or time.time_ns())
    append_jsonl(index_path(root), full)
    return full


def read_index(root: str | Path | None = None, experiments: Iterable[str] | None = None,
               strict: bool | None = None) -> list[dict[str, Any]]:
    """The current row of every indexed arm, in index order: the last line of each (experiment, arm, seed).

    A corrupt line, or one without the fields of an arm, is skipped with a `DamagedRunWarning` naming file:line
    (strict: the error)."""
    root = Path(root) if root is not None else paths.runs_dir()
    check_layout(root)
    strict = strict_default(strict)
    wanted = set(experiments) if experiments is not None else None
    latest: dict[tuple, dict[str, Any]] = {}
    if not index_path(root).is_file():
        return []
    for lineno, row in iter_jsonl_numbered(index_path(root),
                                           on_error=lambda err: skip_damaged(err, "index line", strict)):
        problem = _index_row_problem(row)
        if problem:
            skip_damaged(CorruptFileError(f"{index_path(root)}:{lineno}: {problem}"), "index line", strict)
            continue
        row = {**_INDEX_DEFAULTS, **row}
        if wanted is None or row["experiment"] in wanted:
            key = (row["experiment"], row["arm"], row["seed"])
            latest.pop(key, None)  # a rerun's row takes the place of the old one, at the end
            latest[key] = row
    return list(latest.values())


# Fields a row of an older writer may lack, and what they mean when absent.
_INDEX_DEFAULTS: dict[str, Any] = {"x": None, "stages": [], "own_stages": 0, "sft": None, "eval": None,
                                   "pre_sft_eval": None, "columns": {}, "scores": {}, "created": "", "created_ns": 0}


def _index_row_problem(row: dict[str, Any]) -> str:
    """Why an index row cannot be used ('' when it can)."""
    missing = [k for k in ("experiment", "arm", "seed", "label") if k not in row]
    if missing:
        return f"index row without {missing[0]!r}"
    scores = row.get("scores") or {}
    if not isinstance(scores, dict) or any(isinstance(v, bool) or not isinstance(v, (int, float))
                                           for v in scores.values()):
        return "index row whose 'scores' are not a mapping of numbers"
    if not isinstance(row.get("columns") or {}, dict) or not isinstance(row.get("stages") or [], list):
        return "index row whose 'columns' or 'stages' have the wrong type"
    return ""


def check_layout(root: str | Path) -> None:
    """Refuse a run store of the old layout, naming the command that converts it."""
    root = Path(root)
    if not root.is_dir():
        return
    old = sorted(p.name for p in root.iterdir() if p.is_dir() and p.name not in KINDS
                 and not p.name.startswith("bench") and any(p.glob("*/run.json")))
    if old:
        shown = ", ".join(old[:4]) + (" ..." if len(old) > 4 else "")
        raise OldLayoutError(
            f"{root}: run folders of the old layout ({shown}); this version keeps train/, eval/ and index.jsonl. "
            f"Convert them with `prolong runs migrate` (or `prolong runs migrate --root {root}`), or move them away")
