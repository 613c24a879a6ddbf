"""The benchmark report: every benchmark's ratios beside their targets, as one table and one figure.

Each benchmark (benchmarks/bench_*.py) logs a run `bench_<name>/<run>` and writes into it `summary.json` with
`write_summary`: the machine, the date, the load, and rows of (what, ratio, target, met, detail), a ratio being
measured in one process against the named baseline. `bench_report()` collects the newest summary of every benchmark
into figures/bench.md and figures/bench.png (`make bench` calls it last; notebooks/06_appendix.ipynb shows it).

    rows = [ratio_row("decode tokens/s vs HF generate @16K", 1.04, ">=", 1.0, "3520 vs 3384 tok/s")]
    write_summary(run, rows)
"""

from __future__ import annotations

import os
import platform
import time
from pathlib import Path
from typing import Any

import pandas as pd

from prolong import paths
from prolong.io import atomic_write_json, atomic_write_text, read_json

SUMMARY = "summary.json"
BENCHMARKS = ("bench_generation", "bench_train", "bench_data", "bench_attention", "bench_sequence_parallel")


def machine() -> dict[str, Any]:
    """Where and when a benchmark ran: CPU model, cores, torch, the 1-minute load average (other jobs share it)."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu": cpu, "cores": os.cpu_count(), "torch": torch.__version__, "threads": torch.get_num_threads(),
            "load_1min": round(os.getloadavg()[0], 2), "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime())}


def ratio_row(what: str, ratio: float, op: str, target: float, detail: str = "") -> dict[str, Any]:
    """One measured ratio against its target (`op` ">=", "<=" or "==", the last within 1e-9)."""
    if op not in (">=", "<=", "=="):
        raise ValueError(f"op must be '>=', '<=' or '==', got {op!r}")
    met = ratio >= target if op == ">=" else ratio <= target if op == "<=" else abs(ratio - target) <= 1e-9
    return {"what": what, "ratio": float(ratio), "target": f"{op} {target:g}", "target_value": float(target),
            "op": op, "met": bool(met), "detail": detail}


def write_summary(run: Any, rows: list[dict[str, Any]], note: str = "") -> Path:
    """The rows of one benchmark run, with the machine and date, into <run>/summary.json."""
    out = run.path / SUMMARY
    atomic_write_json(out, {"benchmark": run.kind, "run": run.name, "machine": machine(), "rows": rows,
                            "note": note})
    return out


def newest_summaries(root: str | Path | None = None) -> list[dict[str, Any]]:
    """The newest summary.json of every benchmark, in BENCHMARKS order (benchmarks that never ran are left out)."""
    root = Path(root) if root is not None else paths.runs_dir()
    found = []
    for bench in BENCHMARKS:
        files = sorted((root / bench).glob(f"*/{SUMMARY}"), key=lambda p: p.stat().st_mtime)
        if files:
            found.append(read_json(files[-1]))
    return found


def bench_table(summaries: list[dict[str, Any]]) -> pd.DataFrame:
    """One row per measured ratio: benchmark, what, ratio, target, met, detail, machine load, date."""
    rows = []
    for s in summaries:
        m = s["machine"]
        for r in s["rows"]:
            rows.append({"benchmark": s["benchmark"], "what": r["what"], "ratio": round(r["ratio"], 3),
                         "target": r["target"], "met": "yes" if r["met"] else "NO", "detail": r["detail"],
                         "load": m.get("load_1min"), "date": m.get("date")})
    return pd.DataFrame(rows, columns=["benchmark", "what", "ratio", "target", "met", "detail", "load", "date"])


def _markdown(table: pd.DataFrame, summaries: list[dict[str, Any]]) -> str:
    cols = list(table.columns)
    lines = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    lines += ["| " + " | ".join(str(v) for v in row) + " |" for row in table.itertuples(index=False)]
    machines = sorted({f"{s['machine']['cpu']} ({s['machine']['cores']} cores, torch {s['machine']['torch']})"
                       for s in summaries})
    notes = [f"- **{s['benchmark']}**: {s['note']}" for s in summaries if s.get("note")]
    return "\n".join(["# Benchmarks: each ratio beside its target", "",
                      "Every ratio is measured in one process against the named baseline; `load` is the 1-minute "
                      "load average when it ran (the machine is shared). Written by `make bench` "
                      "(prolong.report.bench).", "", f"Machine: {'; '.join(machines)}", "", *lines, "", *notes, ""])


def _figure(table: pd.DataFrame, summaries: list[dict[str, Any]], path: Path) -> Path:
    from prolong.report.plot import plt, save  # plot sets the headless backend first

    targets = [r for s in summaries for r in s["rows"]]
    fig, ax = plt.subplots(figsize=(8, 0.35 * len(targets) + 1.2))
    y = range(len(targets))
    ax.barh(list(y), [r["ratio"] for r in targets], color=["tab:green" if r["met"] else "tab:red" for r in targets])
    ax.scatter([r["target_value"] for r in targets], list(y), marker="|", s=300, color="black", label="target")
    ax.set_yticks(list(y), [f"{b}: {w}" for b, w in zip(table.benchmark, table.what)], fontsize=7)
    ax.invert_yaxis()
    ax.set_xlabel("ratio (green: target met)")
    ax.legend(loc="lower right", fontsize=7)
    dates = sorted(s["machine"]["date"] for s in summaries)
    m = summaries[0]["machine"]
    ax.set_title(f"{m['cpu']}, {m['cores']} cores; {dates[0]} .. {dates[-1]}", fontsize=8)
    return save(fig, path)


def bench_report(root: str | Path | None = None, out_dir: str | Path | None = None) -> pd.DataFrame:
    """figures/bench.md and figures/bench.png from the newest summary of every benchmark; returns the table."""
    summaries = newest_summaries(root)
    table = bench_table(summaries)
    out = Path(out_dir) if out_dir is not None else paths.figures_dir()
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "bench.md", _markdown(table, summaries))
    if len(table):
        _figure(table, summaries, out / "bench.png")
    return table


if __name__ == "__main__":  # `make bench`: the report of the newest runs
    print(bench_report().to_string(index=False))
    print(f"written: {paths.figures_dir() / 'bench.md'}")
