"""What a section notebook calls: load the run sources, render its tables and figures, and display them."""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from prolong.report.paper_tables import Outputs, render_table_id
from prolong.runs import load_runs


def show_section(tables: list[str], sources: list[str]) -> pd.DataFrame:
    """Render `tables` from `sources` into figures/ and display the Markdown tables and PNGs inline.

    Returns the tidy table the section was drawn from (so a notebook can inspect or plot more)."""
    from IPython.display import Image, Markdown, display

    tidy = load_runs(sources, experiments=tables)
    for table_id in tables:
        out = Outputs()
        for path in render_table_id(table_id, tidy, out):
            if path.suffix == ".md":
                display(Markdown(Path(path).read_text()))
            elif path.suffix == ".png":
                display(Image(filename=str(path)))
    return tidy
