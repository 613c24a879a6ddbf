"""The benchmark report: summaries written by the benchmarks -> one table and figure (no timing here)."""

import pytest

from prolong.report.bench import bench_report, ratio_row, write_summary
from prolong.runs import Run


def test_ratio_rows_and_the_report(tmp_path):
    assert ratio_row("a", 1.2, ">=", 1.0)["met"] and not ratio_row("a", 0.9, ">=", 1.0)["met"]
    assert ratio_row("b", 0.5, "<=", 0.7)["met"] and ratio_row("c", 1.0, "==", 1.0)["met"]
    with pytest.raises(ValueError, match="op"):
        ratio_row("d", 1.0, ">", 1.0)
    gen = Run.open("bench_generation", "old", {"x": 1}, root=tmp_path)
    write_summary(gen, [ratio_row("decode tok/s vs HF generate @16K", 0.5, ">=", 1.0)])
    import os
    os.utime(gen.path / "summary.json", (1, 1))  # an older run of the same benchmark: not in the report
    gen2 = Run.open("bench_generation", "new", {"x": 2}, root=tmp_path)
    write_summary(gen2, [ratio_row("decode tok/s vs HF generate @16K", 1.1, ">=", 1.0, "1100 vs 1000"),
                         ratio_row("decode peak memory vs HF generate @16K", 0.4, "<=", 0.7)], note="tiny")
    data = Run.open("bench_data", "r", {}, root=tmp_path)
    write_summary(data, [ratio_row("tokens/s per rank at 64 ranks / 10M", 0.9, ">=", 1.0)])
    table = bench_report(tmp_path, tmp_path / "figures")
    assert list(table.benchmark) == ["bench_generation", "bench_generation", "bench_data"]
    assert list(table.met) == ["yes", "yes", "NO"] and table.ratio.iloc[0] == 1.1
    md = (tmp_path / "figures" / "bench.md").read_text()
    assert "| bench_generation | decode tok/s vs HF generate @16K | 1.1 | >= 1 | yes | 1100 vs 1000 |" in md
    assert "Machine:" in md and "**bench_generation**: tiny" in md
    assert (tmp_path / "figures" / "bench.png").stat().st_size > 1000
