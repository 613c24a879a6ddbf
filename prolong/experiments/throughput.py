"""The Table 15 analog: training throughput with full attention, document-masked (variable-length) attention, and
micro-batch reordering, measured with the training loop itself and logged as runs of experiment T15.

Each setting trains a few steps of a stage (fresh from the stage's init) into `t15_runs/<setting>-<fingerprint>`;
the result run `T15/<setting>` holds the median tokens/s over the steps after the first (which pays for start-up).
With one process there is nothing to balance, so reordering should change nothing; it pays off when ranks wait for
the slowest one's attention work (the paper: +11.7% on 8 H100s).
"""

from __future__ import annotations

import statistics
import time
from pathlib import Path

from prolong import paths
from prolong.config import read_yaml
from prolong.experiments.runner import apply_overrides, train_stage, ResolvedStage
from prolong.runs import Run, params_fingerprint

SETTINGS = [
    # (run name, the paper's row label, document masks, micro-batch reordering)
    ("full_attention", "full attention", False, False),
    ("variable_length", "variable-length attention", True, False),
    ("reordering", "+ minibatch reordering", True, True),
]


def log_throughput(stage_params: str | Path, steps: int = 6, batch_size: int = 8, micro_batch_size: int = 2,
                   skip_logged: bool = True, log=print) -> list[Run]:
    """Measure the three settings on `stage_params` (a training params file) and log T15 result runs."""
    path = Path(stage_params)
    base = read_yaml(path if path.is_absolute() else paths.REPO_ROOT / path)
    base = apply_overrides(base, {"train.steps": steps, "train.batch_size": batch_size,
                                  "train.micro_batch_size": micro_batch_size, "train.checkpoint_every": steps}, str(path))
    base["train"]["init_from"] = None  # throughput does not depend on the weights
    base["experiment"] = "t15_runs"
    results = []
    for name, label, doc_masking, reorder in SETTINGS:
        data = apply_overrides(base, {"model.doc_masking": doc_masking}, f"{path} ({name})")
        data["train"]["reorder_micro_batches"] = reorder
        data["name"] = None
        data["name"] = f"{name}-{params_fingerprint(data)[:10]}"
        result = Run(paths.runs_dir() / "T15" / name)
        if skip_logged and (result.path / "status.json").exists() and result.is_done():
            log(f"T15/{name}: logged, skipped")
            results.append(result)
            continue
        stage = ResolvedStage("t15_runs", data["name"], data, f"{path} ({name})")
        t0 = time.perf_counter()
        train_stage(stage, log)
        steps_log = Run(stage.path).train_log()
        rate = statistics.median(steps_log["tokens_per_s"].iloc[1:]) if len(steps_log) > 1 else float("nan")
        seq_len = data["data"]["seq_len"]
        length = f"{seq_len // 1024}K" if seq_len % 1024 == 0 else str(seq_len)
        run = Run.open("T15", name, {"label": f"{length} {label}" if name == "full_attention" else label,
                                     "stage": stage.ref})
        # the loop logs all ranks' tokens per second; this runs in one process, so it is also the per-device rate
        run.write_scores({"tokens_per_s_per_gpu": rate, "measured_s": time.perf_counter() - t0})
        run.set_status("done")
        results.append(run)
    # the paper's "change" column: percent over the previous row
    rates = [r.scores()["tokens_per_s_per_gpu"] for r in results]
    for run, prev, rate in zip(results[1:], rates, rates[1:]):
        run.write_scores({"change": 100.0 * (rate / prev - 1.0)})
    return results
