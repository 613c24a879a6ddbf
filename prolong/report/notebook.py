"""What a section notebook calls: load the run sources, render its tables and figures, and display them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from prolong.report.tables import Outputs, render_table_id
from prolong.run_table import load_runs


def show_section(tables: list[str], sources: list[str], seeds: list[int] | None = None) -> pd.DataFrame:
    """Render `tables` from `sources` into figures/ and display the Markdown tables and PNGs inline; `seeds`
    (non-empty: the notebook's `seeds` parameter) draws only those seeds' runs.

    Returns the tidy table the section was drawn from (so a notebook can inspect or plot more)."""
    from IPython.display import Image, Markdown, display

    # T11's logged analog comes from the final model's runs (T10), evaluated at several lengths
    tidy = load_runs(sources, experiments=tables + (["T10"] if "T11" in tables else []), seeds=seeds)
    for table_id in tables:
        out = Outputs()
        for path in render_table_id(table_id, tidy, out):
            if path.suffix == ".md":
                display(Markdown(Path(path).read_text()))
            elif path.suffix == ".png":
                display(Image(filename=str(path)))
    return tidy


def show_figures(names: list[str], sources: list[str], seeds: list[int] | None = None) -> list[Path]:
    """Draw Figures 1-4 (`fig1` ... `fig4`) from the logged runs of `sources` (only `seeds`, when given) and display
    them inline."""
    from IPython.display import Image, display

    from prolong.report.figures import FIGURES

    unknown = [n for n in names if n not in FIGURES]
    if unknown:
        raise KeyError(f"unknown figure {unknown[0]!r}; figures: {', '.join(FIGURES)}")
    tidy = load_runs([s for s in sources if s != "paper"] or ["runs"], seeds=seeds)
    written = []
    for name in names:
        path = FIGURES[name](tidy)
        display(Image(filename=str(path)))
        written.append(path)
    return written
