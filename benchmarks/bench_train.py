"""Benchmark: training throughput of the tiny model (tokens/s, MFU, peak memory) through the real loop.

    .venv/bin/python benchmarks/bench_train.py [--params params/tiny/stages/stage1.yaml params/tiny/stages/stage2.yaml]
                                               [--steps 8] [--threads 1]

Each params file is trained from scratch for `--steps` steps (init_from dropped, checkpoints only at the end) in a
temporary run store, on the tiny corpus (built if missing). Reported: median tokens/s and MFU over the steps after
the first (warm-up), and the process's peak memory. Results are logged as runs bench_train/<name> and printed.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", nargs="+", default=["params/tiny/stages/stage1.yaml", "params/tiny/stages/stage2.yaml"])
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (0: torch's default)")
    a = parser.parse_args(argv)
    os.environ.setdefault("PROLONG_QUIET", "1")

    import torch

    from prolong import paths
    from prolong.runs import Run
    from prolong.train.config import TrainParams
    from prolong.train.loop import train

    if a.threads:
        torch.set_num_threads(a.threads)
    store = paths.runs_dir()
    rows = []
    for params_file in a.params:
        p = TrainParams.from_yaml(params_file)
        p = dataclasses.replace(p, train=dataclasses.replace(p.train, steps=a.steps, init_from=None,
                                                             load_optimizer=False, checkpoint_every=a.steps))
        with tempfile.TemporaryDirectory() as tmp:
            os.environ["PROLONG_RUNS"] = tmp
            try:
                run = train(p, run_name="bench")
                log = run.train_log()
            finally:
                os.environ["PROLONG_RUNS"] = str(store)
        steady = log.iloc[1:] if len(log) > 1 else log
        row = {"params": params_file, "seq_len": p.data.seq_len,
               "tokens_per_step": p.train.batch_size * p.data.seq_len,
               "tokens_per_s": float(statistics.median(steady.tokens_per_s)),
               "mfu": float(statistics.median(steady.mfu)), "peak_mem_gib": float(log.peak_mem_gib.max()),
               "step_time_s": float(statistics.median(steady.step_time_s)),
               "loss_first": float(log.loss.iloc[0]), "loss_last": float(log.loss.iloc[-1])}
        rows.append(row)
        name = f"{Path(params_file).parent.name}-{Path(params_file).stem}_steps{a.steps}_threads{a.threads}"
        bench = Run.open("bench_train", name, {"params": p.to_dict(), "steps": a.steps, "threads": a.threads})
        bench.write_scores({k: v for k, v in row.items() if isinstance(v, (int, float))})
        bench.set_status("done")

    print(f"{'params':<28} {'seq':>6} {'tok/step':>9} {'tok/s':>9} {'step s':>7} {'MFU':>8} {'peak GiB':>9}")
    for r in rows:
        print(f"{r['params']:<28} {r['seq_len']:>6} {r['tokens_per_step']:>9} {r['tokens_per_s']:>9.0f} "
              f"{r['step_time_s']:>7.2f} {r['mfu']:>8.4f} {r['peak_mem_gib']:>9.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
