"""Figure helpers: seaborn plots of rendered tables, saved with deterministic metadata.

Each plot takes a long-form frame with columns `row` (the table's row label), `metric`, `value` and `source`, so the
paper's rows and the user's runs can share one figure (one panel per source).
"""

from __future__ import annotations

import io
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # headless: batch runs and CI have no display

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import seaborn as sns  # noqa: E402

from prolong.io import atomic_write_bytes  # noqa: E402

# PNG metadata would otherwise carry the matplotlib version ("Software"); drop it so bytes depend only on the data.
_PNG_METADATA = {"Software": None}


def long_form(table: pd.DataFrame, source: str, metrics: list[str] | None = None) -> pd.DataFrame:
    """A rendered table (strings) -> long form with numeric values; non-numeric cells are dropped."""
    key = table.columns[0]
    metrics = metrics or list(table.columns[1:])
    frame = table.melt(id_vars=[key], value_vars=metrics, var_name="metric", value_name="text")
    frame["value"] = pd.to_numeric(frame["text"], errors="coerce")
    frame = frame.dropna(subset=["value"]).rename(columns={key: "row"})
    frame["source"] = source
    return frame[["row", "metric", "value", "source"]]


def save(fig: plt.Figure, path: Path) -> Path:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight", metadata=_PNG_METADATA)
    plt.close(fig)
    atomic_write_bytes(path, buf.getvalue())
    return path


def _panels(frame: pd.DataFrame, width: float = 6.5, height: float = 3.6):
    sources = list(dict.fromkeys(frame["source"]))
    sns.set_theme(style="whitegrid", context="paper")
    fig, axes = plt.subplots(1, len(sources), figsize=(width * len(sources), height), squeeze=False,
                             layout="constrained")
    return fig, list(zip(sources, axes[0]))


def bars(frame: pd.DataFrame, title: str, path: Path, x: str = "metric", hue: str = "row", ylabel: str = "score") -> Path:
    """Grouped bars: one group per `x`, one bar per `hue` (e.g. categories x data mixes)."""
    fig, panels = _panels(frame)
    for source, ax in panels:
        part = frame[frame["source"] == source]
        # bars are means over seeds; the black lines are one standard error of the mean (logged runs with several seeds);
        # groups and bars keep the table's column and row order
        sns.barplot(data=part, x=x, y="value", hue=hue, ax=ax, errorbar="se", err_kws={"linewidth": 1},
                    order=list(dict.fromkeys(part[x])), hue_order=list(dict.fromkeys(part[hue])))
        ax.set_title(f"{title} ({source})", fontsize=9)
        ax.set_xlabel("")
        ax.set_ylabel(ylabel)
        ax.tick_params(axis="x", labelrotation=30, labelsize=8)
        legend_outside(ax)
    return save(fig, path)


def legend_outside(ax: plt.Axes) -> None:
    ax.legend(fontsize=7, title=None, loc="upper left", bbox_to_anchor=(1.01, 1.0), frameon=False)


def lines(frame: pd.DataFrame, title: str, path: Path, x: str, xlabel: str, hue: str = "metric",
          ylabel: str = "score", logx: bool = False, xticklabels: dict[float, str] | None = None) -> Path:
    """One line per `hue` over a numeric `x` (e.g. score vs synthetic-data share)."""
    fig, panels = _panels(frame)
    for source, ax in panels:
        part = frame[frame["source"] == source]
        sns.lineplot(data=part, x=x, y="value", hue=hue, marker="o", ax=ax, errorbar="se")
        ax.set_title(f"{title} ({source})", fontsize=9)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        if logx:
            ax.set_xscale("log")
        if xticklabels:  # label the measured points, not powers of ten
            ax.set_xticks(list(xticklabels), list(xticklabels.values()))
            ax.minorticks_off()
        legend_outside(ax)
    return save(fig, path)
