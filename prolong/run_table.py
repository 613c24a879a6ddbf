"""The tidy table of the run store: the index of finished arms (prolong.runs) joined to their evaluation runs'
results, in the columns of `prolong.tidy`; `load_runs` adds the published numbers (`prolong.results`) and other run
stores as further sources. A damaged run is skipped with one warning naming its file, so one bad file never hides
the others."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Iterable

import pandas as pd

from prolong import paths
from prolong.io import CorruptFileError
from prolong.results import paper_table
from prolong.runs import DAMAGE, Run, index_path, read_index, skip_damaged, strict_default
from prolong.tidy import TIDY_COLUMNS, fmt


def _eval_cells(root: Path, ref: str, where: str) -> tuple[dict[str, Any], list[tuple[str, int, str, Any]]]:
    """(scores, per-dataset cells) of one finished evaluation run; a `CorruptFileError` naming the damaged file."""
    evaluation = Run.at(ref, root)
    if not evaluation.is_done():
        raise CorruptFileError(f"{where} names {ref}, which is not a finished run under {root}")
    cells = [(d, n, k, v) for d, n, result in evaluation.evals() for k, v in result["averaged_metrics"].items()
             if isinstance(v, (int, float)) and not isinstance(v, bool)]
    scores = evaluation.scores()
    for k, v in scores.items():
        if isinstance(v, bool) or not isinstance(v, (int, float)):
            raise CorruptFileError(f"{evaluation.path / 'scores.json'}: score {k!r} is {v!r}, not a number")
    return scores, cells


def runs_table(root: str | Path | None = None, experiments: Iterable[str] | None = None,
               source: str = "runs", strict: bool | None = None, seeds: Iterable[int] | None = None) -> pd.DataFrame:
    """Tidy rows (`prolong.tidy`) of the indexed arms under `root`: each arm's evaluation scores (renamed to the
    table's columns), per-dataset results and own scores, for its final model and, where logged, before SFT. With
    `seeds` (non-empty), only the arms of those seeds: a store that holds seeds 0-5 draws seeds 3-5 alone.

    An evaluation run that cannot be read (a truncated JSON, a status.json without a status, a run that never
    finished) is left out with one `DamagedRunWarning` naming the file and why, and everything else loads; with
    `strict` (default: PROLONG_STRICT) it is a `CorruptFileError`."""
    root = Path(root) if root is not None else paths.runs_dir()
    strict = strict_default(strict)
    rows: list[dict[str, Any]] = []
    loaded: dict[str, tuple[dict[str, Any], list] | None] = {}  # ref -> its cells, None when damaged (warned once)
    wanted = set(seeds) if seeds else None
    for row in read_index(root, experiments, strict):
        if wanted is not None and row["seed"] not in wanted:
            continue
        own = " ".join(row["stages"][len(row["stages"]) - row["own_stages"]:]) if row["own_stages"] else ""
        for phase, ref in (("final", row["eval"]), ("pre_sft", row["pre_sft_eval"])):
            if phase == "pre_sft" and ref is None:
                continue
            base = {"source": source, "experiment": row["experiment"], "phase": phase,
                    "run": f"{row['arm']}-s{row['seed']}", "label": str(row["label"]), "order": row["created_ns"],
                    "status": "done"}
            cells = []
            if ref is not None:
                if ref not in loaded:
                    try:
                        loaded[ref] = _eval_cells(root, ref, f"{index_path(root)}: {row['experiment']}/{row['arm']}")
                    except DAMAGE as err:
                        skip_damaged(err, f"run {ref}", strict)
                        loaded[ref] = None
                if loaded[ref] is None:
                    continue
                scores, per_dataset = loaded[ref]
                renamed = {row["columns"].get(k, k): v for k, v in scores.items()}
                cells += [("", 0, k, v, ref) for k, v in renamed.items() if k not in row["scores"]]
                cells += [(d, n, k, v, ref) for d, n, k, v in per_dataset]
            cells += [("", 0, k, v, own) for k, v in row["scores"].items()]
            rows += [{**base, "dataset": d, "length": n, "metric": k, "value": float(v), "display": fmt(float(v)),
                      "runs": who} for d, n, k, v, who in cells]
    return pd.DataFrame(rows, columns=TIDY_COLUMNS)


def load_runs(sources: Iterable[str] = ("paper", "runs"), experiments: Iterable[str] | None = None,
              runs_root: str | Path | None = None, strict: bool | None = None,
              seeds: Iterable[int] | None = None) -> pd.DataFrame:
    """Load any set of run sources as one tidy table (columns `TIDY_COLUMNS`); `seeds` (non-empty) keeps only those
    seeds' arms of the run stores (runs_table).

    A source is "paper" (the published tables, `results/paper/`), "runs" (the run store) or a path to another run
    store (its source name is the folder name). A damaged run is skipped with a warning naming its file (strict, or
    PROLONG_STRICT=1: an error), so one bad file never hides the others."""
    frames = []
    for src in sources:
        if src == "paper":
            frames.append(paper_table(experiments=experiments))
        elif src == "runs":
            frames.append(runs_table(runs_root, experiments, "runs", strict, seeds))
        else:
            p = Path(src)
            if not p.is_dir():
                raise FileNotFoundError(f"{p}: run source not found (use 'paper', 'runs' or a run-store folder)")
            frames.append(runs_table(p, experiments, p.name, strict, seeds))
    frames = [f for f in frames if not f.empty]
    if not frames:
        return pd.DataFrame(columns=TIDY_COLUMNS)
    return pd.concat(frames, ignore_index=True)
