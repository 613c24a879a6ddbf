"""The paper's findings against the logged runs: one row per finding, with the paper's evidence, what the runs
measured (mean ± standard error over seeds) and the verdict of `prolong.report.verdict` (sign and two standard errors
of the difference). Written to `figures/findings.md` with the rule beside it (the README's table comes from it).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import pandas as pd

from prolong import paths
from prolong.io import atomic_write_text
from prolong.report.render import to_markdown
from prolong.report.verdict import NOT_SHOWN, OPPOSITE, RULE, SHOWN, Estimate, verdict


@dataclass
class Finding:
    number: str
    claim: str
    paper: str
    measure: Callable[[pd.DataFrame], tuple[str, str]]  # tidy -> (what the runs measured, verdict)


def _estimate(tidy: pd.DataFrame, experiment: str, label: str, metric: str, phase: str = "final") -> Estimate:
    """One arm's seeds of a run-level score (one value per seed: an arm's seeds share its label)."""
    rows = tidy[(tidy["experiment"] == experiment) & (tidy["label"] == label) & (tidy["metric"] == metric)
                & (tidy["dataset"] == "") & (tidy["source"] != "paper") & (tidy["phase"] == phase)]
    return Estimate.of(rows["value"])


def _compare(tidy, experiment, better, worse, metric="Avg", fmt="{:.1f}", phase="final", lower_is_better=False):
    """The paper says `better` beats `worse` on `metric`."""
    a, b = _estimate(tidy, experiment, better, metric, phase), _estimate(tidy, experiment, worse, metric, phase)
    if a.n == 0 or b.n == 0:
        return f"not run ({experiment})", "not run"
    text = f"{metric}: {better} {a.text(fmt)} vs {worse} {b.text(fmt)}"
    if lower_is_better:
        a, b = Estimate(-a.mean, a.se, a.n), Estimate(-b.mean, b.se, b.n)
    return text, verdict(a, b)


def _best_long_source(tidy):
    """Table 4: the 1:1 mix of books and code repositories against CommonCrawl (the paper's two ends)."""
    rows = tidy[(tidy["experiment"] == "T04") & (tidy["metric"] == "Avg") & (tidy["source"] != "paper")
                & (tidy["phase"] == "final") & (tidy["dataset"] == "")]
    if rows.empty:
        return "not run (T04)", "not run"
    _, result = _compare(tidy, "T04", "Books/Repos 1:1", "CommonCrawl")
    means = rows.groupby("label", sort=False)["value"].apply(Estimate.of)
    text = "Avg: " + ", ".join(f"{k} {v.text()}" for k, v in sorted(means.items(), key=lambda kv: -kv[1].mean))
    return text, result


def _ppl_vs_downstream(tidy):
    """Figure 1: 100% long data has the lower PPL (before SFT) but the lower HELMET average (after SFT)."""
    ppl_text, ppl = _compare(tidy, "fig3", "100% long", "60% long", "PPL", "{:.2f}", "pre_sft", lower_is_better=True)
    avg_text, avg = _compare(tidy, "fig3", "60% long", "100% long")
    if "not run" in (ppl, avg):
        return "not run (fig3)", "not run"
    result = SHOWN if ppl == avg == SHOWN else OPPOSITE if OPPOSITE in (ppl, avg) else NOT_SHOWN
    return f"{ppl_text}; {avg_text}", result


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


README_BEGIN, README_END = "<!-- findings: copied from figures/findings.md -->\n", "<!-- /findings -->"


def write_findings(tidy: pd.DataFrame, figures_dir: Path | None = None) -> Path:
    """figures/findings.md; when it is the repository's own figures/ folder, also the README's copy of the table, so
    the two never drift (a test checks them)."""
    folder = figures_dir or paths.figures_dir()
    path = folder / "findings.md"
    table = to_markdown(findings_table(tidy), "The paper's findings in the logged runs")
    atomic_write_text(path, f"{table}\nVerdict rule: {RULE}\n")
    if folder.resolve() == (paths.REPO_ROOT / "figures").resolve():
        copy_into_readme(path, paths.REPO_ROOT / "README.md")
    return path


def copy_into_readme(findings: Path, readme: Path) -> None:
    """Replace the table between the README's findings markers with the one in `findings`."""
    text = readme.read_text()
    if README_BEGIN not in text or README_END not in text:
        raise ValueError(f"{readme}: no findings block ({README_BEGIN.strip()} ... {README_END})")
    head, rest = text.split(README_BEGIN, 1)
    table = "\n".join(line for line in findings.read_text().splitlines() if line.startswith("|"))
    atomic_write_text(readme, f"{head}{README_BEGIN}{table}\n{README_END}{rest.split(README_END, 1)[1]}")
