"""The tidy table every report function reads: one row per (source, experiment, phase, run, dataset, length, metric).

    source      "paper" for the published numbers, "runs" (or the folder name of another run store) for logged runs
    experiment  e.g. "T04" for a paper table or the experiment of a logged arm
    phase       "final" (the arm's final model, after SFT unless the arm skips it) or "pre_sft" (the same arm's
                model before SFT, where its experiment asks for that evaluation)
    run         unique id of the row's arm within its experiment: "<arm>-s<seed>" for logged arms, or the paper's row
                label (suffixed " #2" where the paper repeats a label, e.g. two "Llama-3.1" rows in T10)
    label       what a table's first column shows: the paper's row label, or the arm's label
    order       row order within an experiment (the paper's row order; the index order for logged arms)
    dataset     HELMET dataset for per-dataset eval rows, "" for scores
    length      evaluation input length in tokens for per-dataset rows, 0 otherwise
    metric      column name (e.g. "Recall", "Avg", after the experiment's renames) or HELMET metric name
    value       float (NaN when the cell is not a number, e.g. "<0.1" or blank)
    display     the value as text (the published string for the paper)
    status      "done" (only finished arms are indexed)
    runs        the run(s) the cell came from: "eval/<run>" for evaluation scores, the arm's own "train/<run>" stages
                for training-log metrics (train_tokens, x, throughput), "results/paper/T04.csv" for the paper
"""

from __future__ import annotations

import math

TIDY_COLUMNS = ["source", "experiment", "phase", "run", "label", "order", "dataset", "length", "metric", "value",
                "display", "status", "runs"]
PHASES = ("final", "pre_sft")


def fmt(value: float | None) -> str:
    """A logged value as a table shows it: one decimal, blank for NaN."""
    return "" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.1f}"
