"""Category scores as HELMET's scripts/collect_results.py computes them, with what is missing named.

collect_results pivots one column per "<dataset> <metric>" and averages each category's columns with pandas'
`mean(axis=1)`, which skips a missing column: a category is the mean of what is there, and its "Ours" average is
the mean of the categories that have a value. The same rule here, and beside every mean the list of what it lacks
(a dataset not evaluated, a Cite citation metric without its NLI model), so a partial mean is never mistaken for a
complete one. A Cite dataset contributes three columns (CITE_METRICS); every other dataset its main metric.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from prolong.eval.categories import CITE_METRICS, HELMET_ORDER, NIAH

Results = dict[tuple[str, int], dict[str, Any]]
"(dataset, length) -> the run's output JSON of that dataset at that length"


@dataclass
class CategoryScore:
    score: float | None
    "mean of the columns present (x100); None when none is"
    columns: dict[str, float] = field(default_factory=dict)
    "'<dataset> <metric>' -> value, the columns averaged"
    missing: list[str] = field(default_factory=list)
    "the columns the category lists but the run lacks"


def dataset_columns(dataset: str, result: dict[str, Any] | None) -> tuple[dict[str, float], list[str]]:
    """The category columns one dataset gives (its main metric; Cite: three metrics) and those it lacks."""
    if dataset in CITE_METRICS:
        wanted = CITE_METRICS[dataset]
    else:
        wanted = [result["averaged_metrics"]["main_metric"]] if result is not None else ["main"]
    present, missing = {}, []
    for m in wanted:
        value = None if result is None else result["averaged_metrics"].get(m)
        if isinstance(value, (int, float)):
            present[f"{dataset} {m}"] = float(value)
        else:
            missing.append(f"{dataset} {m}" if result is not None else dataset)
    return present, sorted(set(missing))


def category_score(datasets: list[str], results: Results, length: int) -> CategoryScore:
    columns: dict[str, float] = {}
    missing: list[str] = []
    for d in datasets:
        present, lacking = dataset_columns(d, results.get((d, length)))
        columns.update(present)
        missing += lacking
    score = sum(columns.values()) / len(columns) if columns else None
    return CategoryScore(score, columns, missing)


def length_report(results: Results, categories: dict[str, list[str]], length: int) -> dict[str, Any]:
    """{category: CategoryScore, 'Avg': CategoryScore over the categories} at one length."""
    order = [c for c in HELMET_ORDER if c in categories] + [c for c in categories if c not in HELMET_ORDER]
    cats = {c: category_score(categories[c], results, length) for c in order}
    scored = {c: s.score for c, s in cats.items() if s.score is not None}
    avg = CategoryScore(sum(scored.values()) / len(scored) if scored else None, scored,
                        [c for c, s in cats.items() if s.score is None])
    return {**cats, "Avg": avg}


def category_scores(results: Results, categories: dict[str, list[str]], lengths: list[int]
                    ) -> tuple[dict[str, float], dict[str, Any]]:
    """(scores, report). Scores: every category and Avg at each length ("<column>@<length>") and, when it has a
    value at every length, their mean over the lengths (the paper: 32K and 64K); NIAH likewise. Report: per length,
    each category's columns and what it lacks (written beside the scores as categories.json)."""
    per_len: dict[int, dict[str, float]] = {}
    report: dict[str, Any] = {"categories": categories, "lengths": {}}
    for L in lengths:
        rep = length_report(results, categories, L)
        report["lengths"][str(L)] = {c: asdict(s) for c, s in rep.items()}
        row = {c: s.score for c, s in rep.items() if s.score is not None}
        if ("niah_passkey", L) in results:
            row[NIAH] = results[("niah_passkey", L)]["averaged_metrics"]["ruler_recall"]
        per_len[L] = row
    out: dict[str, float] = {}
    for k in sorted({k for r in per_len.values() for k in r}):
        vals = [per_len[L][k] for L in lengths if k in per_len[L]]
        if len(vals) == len(lengths):
            out[k] = sum(vals) / len(vals)
        for L in lengths:
            if k in per_len[L]:
                out[f"{k}@{L}"] = per_len[L][k]
    report["missing"] = sorted({m for L in report["lengths"].values() for c, s in L.items() for m in s["missing"]})
    return out, report
