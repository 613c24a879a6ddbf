"""Figures 1-4 of the paper, drawn from logged runs only (the paper publishes no numbers for them).

Each figure reads the indexed arms of one experiment (`params/<scale>/experiments/fig{N}.yaml`): the arms' `x` score is
the arm's coordinate (long-data share, training tokens), their category scores are the y values, and seeds become error
bars (mean +- one standard error over seeds).
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import pandas as pd
import seaborn as sns

from prolong import paths
from prolong.eval.categories import CATEGORIES
import prolong.report.plot as plot  # the module, not the package (whose __init__ imports tables)


def _scores(tidy: pd.DataFrame, experiment: str, phase: str = "final") -> pd.DataFrame:
    """One row per arm of `experiment` with its scores as columns (x, Avg, PPL, ...); phase "pre_sft" gives the
    evaluation of the arm's model before SFT."""
    rows = tidy[(tidy["experiment"] == experiment) & (tidy["dataset"] == "") & (tidy["phase"] == phase)]
    if rows.empty:
        return pd.DataFrame()
    wide = rows.pivot_table(index=["source", "run", "label"], columns="metric", values="value", aggfunc="first")
    return wide.reset_index()


def _save(fig: plt.Figure, name: str, figures_dir: Path | None) -> Path:
    return plot.save(fig, (figures_dir or paths.figures_dir()) / name)


def _empty(name: str, message: str, figures_dir: Path | None) -> Path:
    fig, ax = plt.subplots(figsize=(5, 2))
    ax.axis("off")
    ax.text(0.5, 0.5, message, ha="center", va="center", wrap=True)
    return _save(fig, name, figures_dir)


def fig1_ppl_vs_downstream(tidy: pd.DataFrame, figures_dir: Path | None = None) -> Path:
    """Figure 1: perplexity on the end of long documents keeps improving with more long data, while the downstream
    average does not. x = share of long data (fig3 arms); PPL before SFT, downstream after SFT."""
    ppl, down = _scores(tidy, "fig3", "pre_sft"), _scores(tidy, "fig3")
    if ppl.empty or down.empty or "PPL" not in ppl or "Avg" not in down:
        return _empty("fig1.png", "Figure 1 needs the logged fig3 runs (notebook 01 or 02)", figures_dir)
    ppl = ppl.merge(down[["run", "x"]], on="run", suffixes=("_pre", ""))
    sns.set_theme(style="whitegrid", context="paper")
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    sns.lineplot(data=ppl, x="x", y="PPL", marker="o", ax=ax, color="C0", errorbar="se", label="PPL (before SFT)")
    ax.set_xlabel("share of long data (%)")
    ax.set_ylabel("perplexity (end of long documents)")
    ax2 = ax.twinx()
    sns.lineplot(data=down, x="x", y="Avg", marker="s", ax=ax2, color="C1", errorbar="se", label="HELMET avg (after SFT)")
    ax2.set_ylabel("downstream average")
    ax2.grid(False)
    lines = ax.get_legend_handles_labels(), ax2.get_legend_handles_labels()
    ax.legend(lines[0][0] + lines[1][0], lines[0][1] + lines[1][1], fontsize=7, loc="upper left",
              bbox_to_anchor=(1.15, 1.0), frameon=False)
    ax2.get_legend().remove() if ax2.get_legend() else None
    ax.set_title("Figure 1: PPL vs downstream as the long-data share varies", fontsize=9)
    return _save(fig, "fig1.png", figures_dir)


def fig2_before_after_sft(tidy: pd.DataFrame, figures_dir: Path | None = None) -> Path:
    """Figure 2: per-category scores versus training tokens, before and after SFT (mean and std over seeds)."""
    before, after = _scores(tidy, "fig2", "pre_sft"), _scores(tidy, "fig2")
    if before.empty or after.empty:
        return _empty("fig2.png", "Figure 2 needs the logged fig2 runs (notebook 01)", figures_dir)
    tokens = after.set_index("run")["train_tokens"]
    frames = []
    for name, frame in (("before SFT", before), ("after SFT", after)):
        cats = [c for c in CATEGORIES if c in frame]
        long = frame.melt(id_vars=["run"], value_vars=cats, var_name="category", value_name="score")
        long["when"] = name
        long["tokens_M"] = long["run"].map(tokens) / 1e6
        frames.append(long)
    data = pd.concat(frames, ignore_index=True)
    sns.set_theme(style="whitegrid", context="paper")
    grid = sns.relplot(data=data, x="tokens_M", y="score", hue="when", col="category", col_wrap=3, kind="line",
                       marker="o", errorbar="se", height=2.2, aspect=1.3, facet_kws={"sharey": False})
    grid.set_axis_labels("training tokens (M)", "score")
    grid.figure.suptitle("Figure 2: scores through training, before and after SFT", fontsize=9, y=1.02)
    return _save(grid.figure, "fig2.png", figures_dir)


def fig3_long_short_ratio(tidy: pd.DataFrame, figures_dir: Path | None = None) -> Path:
    """Figure 3: long-task and short-task averages versus the share of long data (books/repos + ShortMix)."""
    runs = _scores(tidy, "fig3")
    if runs.empty or "x" not in runs:
        return _empty("fig3.png", "Figure 3 needs the logged fig3 runs (notebook 02)", figures_dir)
    cols = [c for c in ("Avg", "Short Avg") if c in runs]
    data = runs.melt(id_vars=["run", "x"], value_vars=cols, var_name="average", value_name="score")
    data["average"] = data["average"].map({"Avg": "long-context avg", "Short Avg": "short-context avg"})
    sns.set_theme(style="whitegrid", context="paper")
    grid = sns.relplot(data=data, x="x", y="score", col="average", kind="line", marker="o", errorbar="se",
                       height=2.8, aspect=1.2, facet_kws={"sharey": False})
    grid.set_axis_labels("share of long data (%)", "score")
    grid.figure.suptitle("Figure 3: long vs short data", fontsize=9, y=1.03)
    return _save(grid.figure, "fig3.png", figures_dir)


def fig4_training_curve(tidy: pd.DataFrame, figures_dir: Path | None = None) -> Path:
    """Figure 4: the recipe's average score throughout training, short stage then long stage (x = tokens)."""
    runs = _scores(tidy, "fig4")
    if runs.empty or "train_tokens" not in runs or "Avg" not in runs:
        return _empty("fig4.png", "Figure 4 needs the logged fig4 runs (notebook 05)", figures_dir)
    runs["x"] = runs["train_tokens"] / 1e6  # tokens of the arm's own stages: cumulative over the two stages
    runs = runs.sort_values("x")
    runs["stage"] = runs["label"].str.extract(r"^(Stage \d)", expand=False).fillna("")
    sns.set_theme(style="whitegrid", context="paper")
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    sns.lineplot(data=runs, x="x", y="Avg", hue="stage", marker="o", errorbar="se", ax=ax)
    switch = runs.loc[runs["stage"] != runs["stage"].iloc[0], "x"]
    if not switch.empty:
        ax.axvline(switch.min(), color="grey", linestyle="--", linewidth=1)
    ax.set_xlabel("training tokens (M)")
    ax.set_ylabel("HELMET-style average")
    ax.set_title("Figure 4: average score through training (stage switch dashed)", fontsize=9)
    plot.legend_outside(ax)
    return _save(fig, "fig4.png", figures_dir)


FIGURES = {"fig1": fig1_ppl_vs_downstream, "fig2": fig2_before_after_sft, "fig3": fig3_long_short_ratio,
           "fig4": fig4_training_curve}
