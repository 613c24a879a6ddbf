"""Turn tidy rows into a table with the paper's columns, and write it as CSV and Markdown."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import pandas as pd

from prolong.io import atomic_write_text
from prolong.report.verdict import Estimate
from prolong.results import read_published


def table_rows(tidy: pd.DataFrame, table_id: str, source: str, phase: str = "final") -> pd.DataFrame:
    """The score rows (no per-dataset rows) of one experiment, source and phase ("final" or "pre_sft")."""
    return tidy[(tidy["experiment"] == table_id) & (tidy["source"] == source) & (tidy["dataset"] == "")
                & (tidy["phase"] == phase)]


def pivot(tidy: pd.DataFrame, table_id: str, source: str = "paper") -> pd.DataFrame:
    """Rows of `table_id` from `source`, in the paper's column order and the rows' logged order.

    Cells are strings (`display`): the published text for the paper; for logged runs the mean over the runs that share
    a label (seeds), one decimal, followed by a `seeds` column and one `<metric> SE` column per metric (the standard
    error of the mean, prolong.report.verdict; empty with one seed). A metric a run did not log is an empty cell. The first column holds the row label,
    under the paper's name for it."""
    header, _ = read_published(table_id)
    rows = table_rows(tidy, table_id, source)
    if rows.empty:
        return pd.DataFrame(columns=list(header))
    if source == "paper":
        keys = rows.groupby("run", sort=False)["order"].min().sort_values(kind="stable").index
        labels = rows.groupby("run", sort=False)["label"].first()
        cells = rows.drop_duplicates(["run", "metric"], keep="last").set_index(["run", "metric"])["display"]
        body = [[labels[k]] + [cells.get((k, m), "") for m in header[1:]] for k in keys]
    else:  # seeds of one arm share a label: one row, the mean, then the seed count and each mean's standard error
        keys = rows.groupby("label", sort=False)["order"].min().sort_values(kind="stable").index
        est = rows.groupby(["label", "metric"])["value"].apply(Estimate.of)
        metrics = list(header[1:])
        body = [[k] + [_fmt(est[(k, m)].mean if (k, m) in est else None) for m in metrics]
                + [str(max((est[(k, m)].n for m in metrics if (k, m) in est), default=0))]
                + [_fmt(est[(k, m)].se if (k, m) in est else None) for m in metrics] for k in keys]
        header = list(header) + ["seeds"] + [f"{m} SE" for m in metrics]
    return pd.DataFrame(body, columns=list(header)).fillna("")


def spread(tidy: pd.DataFrame, table_id: str, source: str) -> pd.DataFrame:
    """Long form (row, metric, value, source) of every logged run of a table: one value per seed, for error bars."""
    rows = table_rows(tidy, table_id, source)
    header, _ = read_published(table_id)
    rows = rows[rows["metric"].isin(header[1:])]
    # the table's order: rows as logged (first run of each label), metrics as the paper's columns
    row_rank = rows.groupby("label")["order"].transform("min")
    col_rank = rows["metric"].map({m: i for i, m in enumerate(header)})
    rows = rows.assign(_r=row_rank, _c=col_rank).sort_values(["_c", "_r"], kind="stable")
    return pd.DataFrame({"row": rows["label"], "metric": rows["metric"], "value": rows["value"], "source": source})


def _fmt(value: float | None) -> str:
    return "" if value is None or pd.isna(value) else f"{value:.1f}"


def to_csv_text(table: pd.DataFrame) -> str:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(table.columns)
    writer.writerows(table.astype(str).values.tolist())
    return buf.getvalue()


def to_markdown(table: pd.DataFrame, title: str = "") -> str:
    """A GitHub pipe table (numbers right-aligned), with an optional title line."""
    def esc(s: str) -> str:
        return str(s).replace("|", "\\|")

    numeric = [all(_is_number(v) or v == "" for v in table[c]) for c in table.columns]
    lines = [f"**{title}**", ""] if title else []
    lines.append("| " + " | ".join(esc(c) for c in table.columns) + " |")
    lines.append("|" + "|".join("---:" if n else ":---" for n in numeric) + "|")
    for row in table.astype(str).values.tolist():
        lines.append("| " + " | ".join(esc(v) for v in row) + " |")
    return "\n".join(lines) + "\n"


def _is_number(s: str) -> bool:
    try:
        float(s)
        return True
    except ValueError:
        return False


def write_table(table: pd.DataFrame, out_dir: Path, stem: str, title: str = "") -> list[Path]:
    """Write `<stem>.csv` and `<stem>.md` atomically; return the paths."""
    csv_path, md_path = out_dir / f"{stem}.csv", out_dir / f"{stem}.md"
    atomic_write_text(csv_path, to_csv_text(table))
    atomic_write_text(md_path, to_markdown(table, title))
    return [csv_path, md_path]
