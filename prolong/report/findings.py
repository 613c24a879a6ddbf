"""The paper's findings against the logged runs: one row per finding, with the paper's evidence, what the runs
measured, and whether the runs show the finding. Written to `figures/findings.md` (the README's table comes from it).

A comparison counts as reproduced only when the difference has the paper's sign and exceeds `MARGIN` points (with one
seed per arm, smaller differences are noise at the tiny scale); otherwise it says "not shown".
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from prolong import paths
from prolong.io import atomic_write_text
from prolong.report.render import to_markdown

MARGIN = 1.0  # points (scores are x100)


@dataclass
class Finding:
    number: str
    claim: str
    paper: str
    measure: Callable[[pd.DataFrame], tuple[str, str]]  # tidy -> (what the runs measured, verdict)


def _score(tidy: pd.DataFrame, experiment: str, label: str, metric: str, phase: str = "final") -> float | None:
    rows = tidy[(tidy["experiment"] == experiment) & (tidy["label"] == label) & (tidy["metric"] == metric)
                & (tidy["dataset"] == "") & (tidy["source"] != "paper") & (tidy["phase"] == phase)]
    return float(rows["value"].mean()) if not rows.empty else None


def _compare(tidy, experiment, better, worse, metric="Avg", fmt="{:.1f}", higher_is_better=True):
    a, b = _score(tidy, experiment, better, metric), _score(tidy, experiment, worse, metric)
    if a is None or b is None:
        return f"not run ({experiment})", "not run"
    diff = (a - b) if higher_is_better else (b - a)
    text = f"{metric}: {better} {fmt.format(a)} vs {worse} {fmt.format(b)}"
    return text, ("shown" if diff > MARGIN else "not shown" if abs(diff) <= MARGIN else "opposite")


def _best_long_source(tidy):
    rows = tidy[(tidy["experiment"] == "T04") & (tidy["metric"] == "Avg") & (tidy["source"] != "paper")
                & (tidy["phase"] == "final") & (tidy["dataset"] == "")]
    if rows.empty:
        return "not run (T04)", "not run"
    means = rows.groupby("label")["value"].mean().sort_values(ascending=False)
    text = "Avg: " + ", ".join(f"{k} {v:.1f}" for k, v in means.items())
    top = means.index[0]
    spread = means.iloc[0] - means.iloc[-1]
    verdict = ("shown" if top in ("Books", "Code Repos", "Books/Repos 1:1") and spread > MARGIN
               else "not shown" if spread <= MARGIN else "opposite")
    return text, verdict


def _ppl_vs_downstream(tidy):
    ppl_full = _score(tidy, "fig3", "100% long", "PPL", "pre_sft")
    ppl_mix = _score(tidy, "fig3", "60% long", "PPL", "pre_sft")
    avg_full, avg_mix = _score(tidy, "fig3", "100% long", "Avg"), _score(tidy, "fig3", "60% long", "Avg")
    if None in (ppl_full, ppl_mix, avg_full, avg_mix):
        return "not run (fig3)", "not run"
    text = f"100% vs 60% long: PPL {ppl_full:.0f} vs {ppl_mix:.0f}; Avg {avg_full:.1f} vs {avg_mix:.1f}"
    shown = ppl_full < ppl_mix and avg_full + MARGIN < avg_mix
    return text, "shown" if shown else "not shown"


FINDINGS = [
    Finding("1", "PPL and NIAH mislead; judge with HELMET after SFT",
            "100% long data keeps lowering PPL while downstream gets worse (Fig. 1)", _ppl_vs_downstream),
    Finding("2", "Code repos and books are the best long data; 1:1 best",
            "Books/Repos 1:1 Avg 54.6 vs CommonCrawl 50.9 (T4)", _best_long_source),
    Finding("3", "60% long + 40% ShortMix beats 100% long",
            "Fig. 3", lambda t: _compare(t, "fig3", "60% long", "100% long")),
    Finding("3b", "ShortMix keeps short-task skills",
            "ShortMix Short Avg 65.5 vs FineWeb-Edu 63.0 (T6)",
            lambda t: _compare(t, "T06", "ProLong ShortMix", "FineWeb-Edu", "Avg")),  # T6: Avg = short tasks
    Finding("4", "Training longer than the evaluation length helps",
            "+4B at 512K beats +4B at 64K, evaluated at 64K (T7)",
            lambda t: _compare(t, "T07", "+ more at 4K", "+ more at 1K", "Recall")),
    Finding("5", "Synthetic long SFT data does not help",
            "0% synthetic Avg 55.7 vs 50%: 43.3 (T8)", lambda t: _compare(t, "T08", "0", "50")),
    Finding("6a", "Document masks help", "Avg 54.6 vs 53.6 without (T20)",
            lambda t: _compare(t, "T20", "Document masks", "No doc masks")),
    Finding("6b", "Raise RoPE theta with the length", "theta 8e6 Avg 54.6 vs 0.5e6: 29.1 (T18)",
            lambda t: _compare(t, "T18", "1.6e5 (x16)", "1e4 (x1)")),
]


def findings_table(tidy: pd.DataFrame) -> pd.DataFrame:
    rows = []
    for f in FINDINGS:
        measured, verdict = f.measure(tidy)
        rows.append({"finding": f.number, "claim": f.claim, "paper": f.paper, "tiny runs": measured, "shown": verdict})
    return pd.DataFrame(rows)


def write_findings(tidy: pd.DataFrame, figures_dir: Path | None = None) -> Path:
    path = (figures_dir or paths.figures_dir()) / "findings.md"
    atomic_write_text(path, to_markdown(findings_table(tidy), "The paper's findings in the logged runs"))
    return path
