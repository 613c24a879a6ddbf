"""One function per published table (T1-T8, T10-T15, T18-T26).

Each function reads the tidy run table and writes, for every source that has rows for the table:
`figures/tables/T{NN}.csv` / `.md` for the paper (same columns and row order as the published CSV) and
`figures/tables/T{NN}.<source>.csv` / `.md` for other sources (the user's runs), plus `figures/T{NN}.png` where a
picture reads better than a table (one panel per source, the paper's first).
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import pandas as pd

from prolong import paths
from prolong.eval.categories import CATEGORIES, ICL, QA, RAG, RECALL, RERANK, SHORT_COLUMNS, SUMM
import prolong.report.plot as plot  # the module, not the package (whose __init__ imports tables)
from prolong.report.render import pivot, spread, write_table
from prolong.results import captions


class Outputs:
    """Where one table function writes; collects the written paths."""

    def __init__(self, tables_dir: Path | None = None, figures_dir: Path | None = None):
        self.figures_dir = figures_dir or paths.figures_dir()
        self.tables_dir = tables_dir or self.figures_dir / "tables"
        self.written: list[Path] = []


def _sources(tidy: pd.DataFrame, table_id: str) -> list[str]:
    present = list(dict.fromkeys(tidy.loc[tidy["experiment"] == table_id, "source"]))
    return sorted(present, key=lambda s: (s != "paper", s))


def _tables(tidy: pd.DataFrame, table_id: str, out: Outputs) -> dict[str, pd.DataFrame]:
    """Render and write the table once per source; return {source: rendered table}."""
    title = f"{table_id}: {captions().get(table_id, '')}"
    rendered = {}
    for source in _sources(tidy, table_id):
        table = pivot(tidy, table_id, source)
        stem = table_id if source == "paper" else f"{table_id}.{source}"
        out.written += write_table(table, out.tables_dir, stem, title if source == "paper" else f"{title} ({source})")
        rendered[source] = table
    return rendered


def _long(rendered: dict[str, pd.DataFrame], metrics: list[str] | None = None,
          tidy: pd.DataFrame | None = None, table_id: str = "") -> pd.DataFrame:
    """Long form for figures: the paper's cells, and every seed of logged runs (so bars and lines get error bars)."""
    frames = []
    for source, table in rendered.items():
        if table.empty:
            continue
        wanted = [m for m in (metrics or table.columns[1:]) if m in table.columns]
        if source == "paper" or tidy is None:
            frames.append(plot.long_form(table, source, wanted))
        else:
            frame = spread(tidy, table_id, source)
            frames.append(frame[frame["metric"].isin(wanted)])
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=["row", "metric", "value", "source"])


def _category_bars(tidy: pd.DataFrame, table_id: str, out: Outputs, title: str, metrics: list[str]) -> list[Path]:
    rendered = _tables(tidy, table_id, out)
    frame = _long(rendered, metrics, tidy, table_id)
    if not frame.empty:
        out.written.append(plot.bars(frame, title, out.figures_dir / f"{table_id}.png"))
    return out.written


def _table_only(table_id: str) -> Callable[[pd.DataFrame, Outputs | None], list[Path]]:
    def render(tidy: pd.DataFrame, out: Outputs | None = None) -> list[Path]:
        out = out or Outputs()
        _tables(tidy, table_id, out)
        return out.written

    return render


# ---- Section 2: evaluation ---------------------------------------------------------------------------------
t01_helmet_vs_niah = _table_only("T01")
t02_short_after_extension = _table_only("T02")
t13_helmet_tasks = _table_only("T13")

# ---- Section 3: long-context data ----------------------------------------------------------------------------
t03_long_tokens_by_source = _table_only("T03")
t05_shortmix = _table_only("T05")


def t04_long_data_sources(tidy: pd.DataFrame, out: Outputs | None = None) -> list[Path]:
    """Long-data source (60% long + 40% ShortMix): categories and averages per source."""
    return _category_bars(tidy, "T04", out or Outputs(), "Long-data source", CATEGORIES + ["Avg", "Short Avg"])


def t06_short_data_sources(tidy: pd.DataFrame, out: Outputs | None = None) -> list[Path]:
    """Short-data source: long average and short-context tasks."""
    return _category_bars(tidy, "T06", out or Outputs(), "Short-data source", ["Long Avg"] + SHORT_COLUMNS + ["Avg"])


def t14_document_lengths(tidy: pd.DataFrame, out: Outputs | None = None) -> list[Path]:
    """Share of documents longer than 4K/8K/16K/32K tokens per short-data source."""
    out = out or Outputs()
    frame = _long(_tables(tidy, "T14", out), None, tidy, "T14")
    if not frame.empty:
        out.written.append(plot.bars(frame, "Documents longer than (%)", out.figures_dir / "T14.png",
                                        x="row", hue="metric", ylabel="% of documents"))
    return out.written


# ---- Section 4: scaling length -------------------------------------------------------------------------------
def t07_training_length(tidy: pd.DataFrame, out: Outputs | None = None) -> list[Path]:
    """Training length: 64K vs 512K continued training, evaluated at 64K."""
    return _category_bars(tidy, "T07", out or Outputs(), "Training length (eval at 64K)", [RECALL, RAG, RERANK, ICL])


# ---- Section 5: SFT -----------------------------------------------------------------------------------------
def _synthetic_share(tidy: pd.DataFrame, table_id: str, out: Outputs, title: str) -> list[Path]:
    frame = _long(_tables(tidy, table_id, out), None, tidy, table_id)
    if not frame.empty:
        frame["synthetic_percent"] = pd.to_numeric(frame["row"], errors="coerce")
        # log-like spacing of 0/1/3/10/50: plot against percent+1 on a log axis
        frame["x"] = frame["synthetic_percent"] + 1
        ticks = {p + 1: f"{p:g}%" for p in sorted(frame["synthetic_percent"].dropna().unique())}
        out.written.append(plot.lines(frame, title, out.figures_dir / f"{table_id}.png", x="x",
                                         xlabel="synthetic long SFT data (log scale)", logx=True, xticklabels=ticks))
    return out.written


def t08_synthetic_sft_8b(tidy: pd.DataFrame, out: Outputs | None = None) -> list[Path]:
    """Share of synthetic long SFT data generated by Llama-3-8B-Instruct (table only, as in the paper)."""
    out = out or Outputs()
    _tables(tidy, "T08", out)
    return out.written


def t22_sft_data(tidy: pd.DataFrame, out: Outputs | None = None) -> list[Path]:
    """SFT data source: UltraChat vs Tulu v2 vs ShareGPT."""
    return _category_bars(tidy, "T22", out or Outputs(), "SFT data",
                          [f"{RECALL}@512K", RAG, RERANK, ICL, f"{QA}@512K", f"{SUMM}@512K", "Avg"])


def t23_synthetic_sft_70b(tidy: pd.DataFrame, out: Outputs | None = None) -> list[Path]:
    """Share of synthetic long SFT data generated by Llama-3-70B-Instruct."""
    return _synthetic_share(tidy, "T23", out or Outputs(), "Synthetic long SFT share")


# ---- Section 6: ProLong -------------------------------------------------------------------------------------
t10_helmet_128k = _table_only("T10")
t12_nocha = _table_only("T12")
t25_short_after_sft = _table_only("T25")
t26_ruler_infbench = _table_only("T26")


def t11_qa_summ_by_length(tidy: pd.DataFrame, out: Outputs | None = None) -> list[Path]:
    """ProLong QA and Summ scores as the evaluation length grows.

    Logged runs of the final model (experiment T10, evaluated at several lengths) carry per-length scores
    (`QA@1024`, ...); their table has one column per evaluated length."""
    out = out or Outputs()
    frame = _long(_tables(tidy, "T11", out))
    for source in _sources(tidy, "T10"):
        if source == "paper":
            continue
        table, long = _by_length(tidy, "T10", source, [QA, SUMM])
        out.written += write_table(table, out.tables_dir, f"T11.{source}", f"T11 analog ({source}): QA and Summ by length")
        frame = pd.concat([frame, long], ignore_index=True)
    if not frame.empty:
        frame["length_k"] = frame["metric"].str.rstrip("K").astype(float)  # columns are lengths: "32K" -> 32
        ticks = {float(k): f"{k:g}K" for k in sorted(frame["length_k"].unique())}
        out.written.append(plot.lines(frame, "QA and Summ vs evaluation length", out.figures_dir / "T11.png",
                                         x="length_k", xlabel="evaluation length (log scale)", hue="row",
                                         logx=True, xticklabels=ticks))
    return out.written


def _by_length(tidy: pd.DataFrame, table_id: str, source: str, tasks: list[str]) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Rows `tasks`, one column per evaluated length, from scores named `<task>@<length>` (mean over runs)."""
    rows = tidy[(tidy["experiment"] == table_id) & (tidy["source"] == source) & (tidy["dataset"] == "")
                & (tidy["phase"] == "final")]
    parts = rows["metric"].str.extract(r"^(?P<task>[^@]+)@(?P<length>\d+)$")
    rows = rows.assign(task=parts["task"], length=pd.to_numeric(parts["length"])).dropna(subset=["task"])
    rows = rows[rows["task"].isin(tasks)]
    rows = rows.assign(metric=(rows["length"] / 1024).map(lambda k: f"{k:g}K"))
    means = rows.groupby(["task", "metric"])["value"].mean()
    lengths = [f"{k:g}K" for k in sorted(rows["length"].unique() / 1024)]
    table = pd.DataFrame([[t] + [f"{means[(t, L)]:.1f}" if (t, L) in means else "" for L in lengths] for t in tasks],
                         columns=["task"] + lengths)
    long = pd.DataFrame({"row": rows["task"], "metric": rows["metric"], "value": rows["value"], "source": source})
    return table, long


# ---- Appendix -----------------------------------------------------------------------------------------------
def _with_change(tidy: pd.DataFrame) -> pd.DataFrame:
    """Add T15's "change" rows to logged sources: each row's tokens/s in percent over the previous row's."""
    rows = tidy[(tidy["experiment"] == "T15") & (tidy["source"] != "paper") & (tidy["dataset"] == "")
                & (tidy["metric"] == "tokens_per_s_per_gpu")]
    added = []
    for _, group in rows.groupby("source", sort=False):
        rates = group.groupby("label", sort=False).agg(value=("value", "mean"), order=("order", "min"),
                                                        runs=("runs", " ".join)).sort_values("order")
        for (label, cur), (_, prev) in zip(list(rates.iterrows())[1:], list(rates.iterrows())[:-1]):
            first = group[group["label"] == label].iloc[0]
            change = 100.0 * (cur["value"] / prev["value"] - 1.0)
            added.append({**first.to_dict(), "metric": "change", "value": change, "display": f"{change:.1f}",
                          "runs": f"{prev['runs']} {cur['runs']}"})
    return pd.concat([tidy, pd.DataFrame(added, columns=tidy.columns)], ignore_index=True) if added else tidy


def t15_throughput(tidy: pd.DataFrame, out: Outputs | None = None) -> list[Path]:
    """Training throughput at 64K: full attention, variable-length attention, + micro-batch reordering. For logged
    runs (experiment T15: tokens/s read from each arm's training log) the "change" column is computed here, as the
    paper's: percent over the previous row."""
    out = out or Outputs()
    tidy = _with_change(tidy)
    frame = _long(_tables(tidy, "T15", out), ["tokens_per_s_per_gpu"], tidy, "T15")
    if not frame.empty:
        out.written.append(plot.bars(frame, "Throughput at 64K", out.figures_dir / "T15.png", x="row",
                                        hue="metric", ylabel="tokens/s/GPU"))
    return out.written


def t18_rope_64k(tidy: pd.DataFrame, out: Outputs | None = None) -> list[Path]:
    """RoPE base frequency for 64K training (theta x 1e6)."""
    return _category_bars(tidy, "T18", out or Outputs(), "RoPE theta (x1e6) at 64K", CATEGORIES + ["Avg", "Short Avg"])


def t19_rope_512k(tidy: pd.DataFrame, out: Outputs | None = None) -> list[Path]:
    """RoPE base frequency for 512K training (theta x 1e6)."""
    return _category_bars(tidy, "T19", out or Outputs(), "RoPE theta (x1e6) at 512K", CATEGORIES + ["Avg", "Short Avg"])


def t20_document_masks(tidy: pd.DataFrame, out: Outputs | None = None) -> list[Path]:
    """Document masks vs cross-document attention."""
    return _category_bars(tidy, "T20", out or Outputs(), "Document masks", CATEGORIES + ["Avg", "Short Avg"])


t21_init_base_vs_instruct = _table_only("T21")


def t24_mix_vs_fu(tidy: pd.DataFrame, out: Outputs | None = None) -> list[Path]:
    """ProLong's data mix vs Fu et al. (2024)."""
    return _category_bars(tidy, "T24", out or Outputs(), "Data mix",
                          CATEGORIES + ["Avg", "Short before SFT", "Short after SFT"])


TABLES: dict[str, Callable[..., list[Path]]] = {
    "T01": t01_helmet_vs_niah, "T02": t02_short_after_extension, "T03": t03_long_tokens_by_source,
    "T04": t04_long_data_sources, "T05": t05_shortmix, "T06": t06_short_data_sources, "T07": t07_training_length,
    "T08": t08_synthetic_sft_8b, "T10": t10_helmet_128k, "T11": t11_qa_summ_by_length, "T12": t12_nocha,
    "T13": t13_helmet_tasks, "T14": t14_document_lengths, "T15": t15_throughput, "T18": t18_rope_64k,
    "T19": t19_rope_512k, "T20": t20_document_masks, "T21": t21_init_base_vs_instruct, "T22": t22_sft_data,
    "T23": t23_synthetic_sft_70b, "T24": t24_mix_vs_fu, "T25": t25_short_after_sft, "T26": t26_ruler_infbench,
}
"""Every published table, by id -> its report function."""

FIGURE_TABLES = ["T04", "T06", "T07", "T11", "T14", "T15", "T18", "T19", "T20", "T22", "T23", "T24"]
"""Tables that are also drawn (figures/T{NN}.png)."""


def render_table_id(table_id: str, tidy: pd.DataFrame, out: Outputs | None = None) -> list[Path]:
    if table_id not in TABLES:
        raise KeyError(f"unknown table {table_id!r}; published tables: {', '.join(TABLES)}")
    return TABLES[table_id](tidy, out)


def render_all(tidy: pd.DataFrame, table_ids: list[str] | None = None, out: Outputs | None = None) -> list[Path]:
    out = out or Outputs()
    for table_id in table_ids or list(TABLES):
        render_table_id(table_id, tidy, out)
    return out.written
