"""The paper's published numbers as a run source named "paper".

`results/paper/T{NN}.csv` are the paper's tables with the paper's own column names (copied from the shared paper
folder); `index.csv` holds each table's caption. Each table row becomes a "run" of experiment `T{NN}` whose metrics are
the row's cells, so a table or figure function reads the paper exactly as it reads a logged run.
"""

from __future__ import annotations

import csv
from functools import lru_cache
from pathlib import Path
from typing import Iterable

import pandas as pd

from prolong import paths
from prolong.io import CorruptFileError
from prolong.tidy import TIDY_COLUMNS


def _to_float(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")  # "<0.1", "" and text cells keep their string in `display`


@lru_cache(maxsize=None)
def read_published(table_id: str, root: Path | None = None) -> tuple[tuple[str, ...], tuple[tuple[str, ...], ...]]:
    """Header and rows of one published table, as strings exactly as printed in the paper."""
    path = (root or paths.PAPER_RESULTS_DIR) / f"{table_id}.csv"
    if not path.is_file():
        raise FileNotFoundError(f"{path}: published table {table_id} not found")
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows:
        raise CorruptFileError(f"{path}: empty table")
    header = tuple(rows[0])
    for lineno, row in enumerate(rows[1:], start=2):
        if len(row) != len(header):
            raise CorruptFileError(f"{path}:{lineno}: {len(row)} cells, the header has {len(header)}")
    return header, tuple(tuple(r) for r in rows[1:])


def published_ids(root: Path | None = None) -> list[str]:
    """The ids of every published numeric table shipped in results/paper (T01 ... T26)."""
    root = root or paths.PAPER_RESULTS_DIR
    return sorted(p.stem for p in root.glob("T*.csv"))


def captions(root: Path | None = None) -> dict[str, str]:
    path = (root or paths.PAPER_RESULTS_DIR) / "index.csv"
    with open(path, newline="") as f:
        return {r["table"]: r["caption"] for r in csv.DictReader(f)}


def paper_table(experiments: Iterable[str] | None = None, root: Path | None = None) -> pd.DataFrame:
    """Tidy rows (see prolong.tidy) of the published tables; the first column of each table is the run label."""
    wanted = set(experiments) if experiments is not None else None
    rows = []
    for table_id in published_ids(root):
        if wanted is not None and table_id not in wanted:
            continue
        header, body = read_published(table_id, root)
        seen: dict[str, int] = {}
        for order, cells in enumerate(body):
            seen[cells[0]] = seen.get(cells[0], 0) + 1
            run = cells[0] if seen[cells[0]] == 1 else f"{cells[0]} #{seen[cells[0]]}"
            for metric, cell in zip(header[1:], cells[1:]):
                rows.append({"source": "paper", "experiment": table_id, "phase": "final", "run": run,
                             "label": cells[0], "order": order, "dataset": "", "length": 0, "metric": metric,
                             "value": _to_float(cell), "display": cell, "status": "done",
                             "runs": f"results/paper/{table_id}.csv"})
    return pd.DataFrame(rows, columns=TIDY_COLUMNS)
