"""Score vs input length of a real model: HELMET-format tasks at several lengths, a few items each (the paper's
motivating picture, measured on SmolLM2-135M-Instruct on a CPU).

    prolong model sweep --params params/small/sweep_smollm2.yaml     # -> runs/eval/<name>-L<length>, then
                                                                      #    results/smollm2/score_vs_length.{csv,md,png}

One logged eval run per length (`prolong.runs`, the evaluation runner of `prolong eval`), sized per length: long
inputs cost far more on a CPU (prefill about 150 tokens/s at 2K, 95 at 8K on 2 cores), so the params give the items
per length and which tasks reach the longest lengths. A run already done with the same params is not evaluated
again; the table and figure are redrawn from the runs.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd

from prolong import paths
from prolong.config import Config, ConfigError
from prolong.eval.config import EvalConfig
from prolong.io import atomic_write_text
from prolong.report.verdict import Estimate
from prolong.runs import Run


@dataclass
class SweepConfig(Config):
    """A length sweep of one model."""

    model: str
    "the checkpoint folder (relative paths under the data root), e.g. models/SmolLM2-135M-Instruct"
    name: str
    "run names: runs/eval/<name>-L<length>"
    eval: EvalConfig
    "the evaluation at every length (its `lengths` and `num_samples` are set per length from the fields below)"
    samples: dict[int, int] = field(default_factory=dict)
    "length -> items per task at that length"
    tasks_at: dict[int, list[str]] = field(default_factory=dict)
    "length -> the tasks run there (a subset of eval.tasks); a length not listed runs every task"
    out: str = "results/smollm2"
    "table and figure folder, relative to the repository root"

    def __post_init__(self) -> None:
        if not self.samples:
            raise ConfigError("samples: give items per task for at least one length")
        for length, n in self.samples.items():
            if length <= 0 or n <= 0:
                raise ConfigError(f"samples: {length}: {n}: lengths and counts must be positive")
        for length, tasks in self.tasks_at.items():
            if length not in self.samples:
                raise ConfigError(f"tasks_at: length {length} is not in samples")
            unknown = [t for t in tasks if t not in self.eval.tasks]
            if unknown:
                raise ConfigError(f"tasks_at: {length}: {unknown[0]!r} is not in eval.tasks")

    def at(self, length: int) -> EvalConfig:
        d = self.eval.to_dict()
        d.update(lengths=[length], num_samples=self.samples[length], icl_num_samples=self.samples[length],
                 tasks=self.tasks_at.get(length, self.eval.tasks))
        return EvalConfig.from_dict(d, source=f"<sweep {self.name} at {length}>")


def run_sweep(cfg: SweepConfig, log=print) -> pd.DataFrame:
    """Evaluate every length not yet logged, then write the tidy table, its markdown and the figure."""
    table = sweep_table(evaluate_lengths(cfg, log))
    write_outputs(table, paths.REPO_ROOT / cfg.out)
    return table


def require_checkpoint(model: str | Path) -> Path:
    """The checkpoint folder of `model` (relative paths under the data root), or an error naming it."""
    from prolong.model.build import resolve_model_path

    model_dir = resolve_model_path(model)
    if not (model_dir / "config.json").is_file():
        raise FileNotFoundError(f"{model_dir}: no checkpoint (for SmolLM2: `make smollm2`)")
    return model_dir


def evaluate_lengths(cfg: SweepConfig, log=print) -> list[Run]:
    """One eval run per length (`runs/eval/<name>-L<length>`), evaluated unless already done; the model is loaded
    only when a length has to run."""
    from prolong.eval.runner import evaluate_model, load_model

    model_dir = require_checkpoint(cfg.model)
    model = tok = None
    runs = []
    for length in sorted(cfg.samples):
        ecfg = cfg.at(length)
        run = Run.open("eval", f"{cfg.name}-L{length}", {"model": str(model_dir), "eval": ecfg.to_dict()})
        runs.append(run)
        if run.is_done():
            log(f"{run.path}: done, not evaluated again")
            continue
        if model is None:
            model, tok = load_model(model_dir, ecfg)
        t0 = time.perf_counter()
        evaluate_model(model, tok, ecfg, run)
        run.set_status("done", f"{time.perf_counter() - t0:.0f} s")
        log(f"{run.path}: {length} tokens in {time.perf_counter() - t0:.0f} s")
    return runs


def sweep_table(runs: list[Run]) -> pd.DataFrame:
    """One row per (task, length): items, main metric (x100), its standard error over items, seconds. Perplexity
    (a whole-model result, no items) gives its PPL itself, `n` its documents and no standard error."""
    rows = []
    for run in runs:
        for dataset, length, res in run.evals():
            if dataset == "ppl":
                m = res["averaged_metrics"]
                rows.append({"task": dataset, "length": length, "n": int(m["num_docs"]), "metric": "ppl",
                             "score": float(m["ppl"]), "se": float("nan"), "input_tokens": int(m["tokens"]),
                             "wall_s": res["throughput"].get("wall_s"), "run": run.ref})
                continue
            if not res.get("data"):
                continue
            main = res["averaged_metrics"]["main_metric"]
            est = Estimate.of(100 * d["metrics"][main] for d in res["data"])  # over items
            rows.append({"task": dataset, "length": length, "n": est.n, "metric": main, "score": est.mean,
                         "se": est.se,
                         # short tasks (HellaSwag, ARC) score by log-likelihood: no prompt lengths, no timing
                         "input_tokens": sum(d.get("input_len", 0) for d in res["data"]),
                         "wall_s": res["throughput"].get("wall_s"), "run": run.ref})
    return pd.DataFrame(rows).sort_values(["task", "length"]).reset_index(drop=True)


def markdown_table(table: pd.DataFrame, cells: list[str] | None = None) -> str:
    """Tasks as rows, lengths as columns: 'score (n)', or the given cell per row."""
    cells = table.assign(cell=cells if cells is not None else [f"{s:.0f} ({n})" for s, n in zip(table.score, table.n)])
    wide = cells.pivot(index="task", columns="length", values="cell").fillna("-")
    heads = ["task", *(f"{c // 1024}K" for c in wide.columns)]
    lines = ["| " + " | ".join(heads) + " |", "|:---|" + "---:|" * len(wide.columns)]
    lines += ["| " + " | ".join([task, *row]) + " |" for task, row in zip(wide.index, wide.values.tolist())]
    return "\n".join(lines)


def write_outputs(table: pd.DataFrame, out: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "score_vs_length.csv", table.to_csv(index=False))
    total = table.wall_s.sum()
    atomic_write_text(out / "score_vs_length.md", markdown_table(table) +
                      f"\n\nscore x100 (items); {int(table.n.sum())} items, {total / 60:.1f} minutes of evaluation\n")
    fig, ax = plt.subplots(figsize=(6.4, 4.0))
    for task, g in table.groupby("task"):
        ax.errorbar(g.length, g.score, yerr=g.se.fillna(0), marker="o", capsize=3, label=task)
    ax.set_xscale("log", base=2)
    ax.set_xticks(sorted(table.length.unique()), [f"{v // 1024}K" for v in sorted(table.length.unique())])
    ax.axvline(8192, color="grey", ls=":", lw=1)
    ax.text(8192, 102, " trained window (8K)", fontsize=8, color="grey", va="bottom")
    ax.set_ylim(-5, 110)
    ax.set_xlabel("input length (tokens)")
    ax.set_ylabel("score (x100)")
    ax.set_title("SmolLM2-135M-Instruct: HELMET-format tasks vs length", fontsize=10)
    ax.legend(fontsize=8, loc="lower left")
    fig.tight_layout()
    fig.savefig(out / "score_vs_length.png", dpi=120, metadata={"Software": None})
    plt.close(fig)
