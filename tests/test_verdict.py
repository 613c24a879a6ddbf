"""The verdict rule on hand-made numbers: sign and two standard errors of the difference, nothing from one seed."""

import math

import pandas as pd
import pytest

from prolong.report.findings import findings_table
from prolong.report.render import pivot
from prolong.report.verdict import NOT_SHOWN, OPPOSITE, SHOWN, Estimate, verdict


def test_estimate_is_mean_and_standard_error():
    e = Estimate.of([1.0, 2.0, 3.0])
    assert (e.mean, e.n) == (2.0, 3) and e.se == pytest.approx(1.0 / math.sqrt(3))  # sd 1, n 3
    one = Estimate.of([5.0])
    assert one.mean == 5.0 and math.isnan(one.se) and one.text() == "5.0 (n=1)"
    assert Estimate.of([float("nan"), 4.0, 6.0]).n == 2
    assert Estimate.of([]).n == 0


@pytest.mark.parametrize("better, worse, expected", [
    ([10.0, 11.0, 12.0], [5.0, 6.0, 7.0], SHOWN),            # d = 5, se_d = 0.82
    ([5.0, 6.0, 7.0], [10.0, 11.0, 12.0], OPPOSITE),
    ([10.0, 11.0, 12.0], [9.0, 10.0, 11.0], NOT_SHOWN),      # d = 1 < 2 x 0.82
    ([10.0, 11.0, 12.0], [8.0, 9.0, 10.0], SHOWN),           # d = 2 > 2 x 0.816
    ([10.0, 11.0, 12.0], [8.5, 9.5, 10.5], NOT_SHOWN),       # d = 1.5 < 1.63
    ([50.0], [10.0], NOT_SHOWN),                             # one seed: no standard error, never shown
    ([50.0, 50.0], [10.0], NOT_SHOWN),
    ([3.0, 3.0, 3.0], [3.0, 3.0, 3.0], NOT_SHOWN),           # equal, no spread
    ([3.1, 3.1], [3.0, 3.0], SHOWN),                         # any gap beyond zero spread
])
def test_verdict(better, worse, expected):
    assert verdict(Estimate.of(better), Estimate.of(worse)) == expected


def _tidy(experiment, scores):
    """Tidy score rows: {label: {metric: [value per seed]}} as load_runs would give for indexed arms."""
    rows = []
    for order, (label, metrics) in enumerate(scores.items()):
        for metric, values in metrics.items():
            for seed, v in enumerate(values):
                rows.append({"source": "runs", "experiment": experiment, "phase": "final",
                             "run": f"{label}-s{seed}", "label": label, "order": order, "dataset": "", "length": 0,
                             "metric": metric, "value": v, "display": f"{v}", "status": "done", "runs": ""})
    return pd.DataFrame(rows)


def test_findings_use_the_rule():
    tidy = _tidy("T20", {"No doc masks": {"Avg": [10.0, 11.0, 12.0]}, "Document masks": {"Avg": [14.0, 15.0, 16.0]}})
    row = findings_table(tidy).set_index("finding").loc["6a"]
    assert row["shown"] == SHOWN and "15.0 ± 0.6 (n=3)" in row["tiny runs"]
    close = _tidy("T20", {"No doc masks": {"Avg": [10.0, 11.0, 12.0]}, "Document masks": {"Avg": [10.5, 11.5, 12.5]}})
    assert findings_table(close).set_index("finding").loc["6a", "shown"] == NOT_SHOWN


def test_runs_table_has_seeds_and_standard_errors():
    tidy = _tidy("T20", {"Document masks": {"Avg": [1.0, 2.0, 3.0], "Recall": [4.0]}})
    table = pivot(tidy, "T20", "runs")
    row = table.iloc[0]
    assert row["Avg"] == "2.0" and row["Avg SE"] == "0.6" and row["seeds"] == "3"
    assert row["Recall"] == "4.0" and row["Recall SE"] == ""   # one seed: no standard error


def test_readme_findings_table_is_the_committed_findings():
    """The README's findings table is figures/findings.md's, as the last run wrote both (write_findings copies it)."""
    from prolong import paths

    readme = (paths.REPO_ROOT / "README.md").read_text()
    block = readme.split("<!-- findings: copied from figures/findings.md -->\n")[1].split("<!-- /findings -->")[0]
    committed = (paths.REPO_ROOT / "figures" / "findings.md").read_text()
    assert block.strip().splitlines() == [line for line in committed.splitlines() if line.startswith("|")]


def test_findings_copied_into_a_readme(tmp_path):
    from prolong.report.findings import README_BEGIN, README_END, copy_into_readme

    (tmp_path / "findings.md").write_text("**title**\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\nVerdict rule: ...\n")
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n{README_BEGIN}| old |\n{README_END}\nafter\n")
    copy_into_readme(tmp_path / "findings.md", readme)
    assert readme.read_text() == f"# x\n{README_BEGIN}| a | b |\n|---|---|\n| 1 | 2 |\n{README_END}\nafter\n"
    readme.write_text("no markers")
    with pytest.raises(ValueError, match="no findings block"):
        copy_into_readme(tmp_path / "findings.md", readme)
