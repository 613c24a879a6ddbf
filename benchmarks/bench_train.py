"""Benchmark: the training loop's tax. The project's loop (prolong.train.loop.train: accelerate, document-masked
attention, block loss, logging, the non-finite guard, no checkpoint until the end) against a bare loop written here
(the same model and initial weights, the same packed batches, plain HF forward with labels, backward, AdamW), on the
tiny stages at 1K (stage1.yaml) and 4K (stage2.yaml).

    .venv/bin/python benchmarks/bench_train.py [--steps 6] [--threads 1] [--full]     # --full: 12 steps

Each params file is trained from scratch for `--steps` steps (init_from dropped, one checkpoint at the end) in a
temporary run store, on the tiny corpus (built by `prolong data build-tiny`). Step time is the median over the steps
after the first (warm-up) of each step's process CPU time: with one thread that is the step's wall time on an idle
machine, and unlike wall time it does not count the other jobs of a shared machine. Ratio = loop / bare step time
(target <= 1.15); beside it, loop / a bare loop running the loop's own kernels (document-masked attention, block
loss), which is the framework's cost alone. Logged as runs bench_train/<name> with summary.json for figures/bench.md.
"""

from __future__ import annotations

import argparse
import dataclasses
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

TARGET = 1.15


def bare_loop(p, steps: int, same_kernels: bool = False) -> list[float]:
    """The same model (seed, config), the same packed rows (stream, micro-batches), plain forward/backward/AdamW:
    per-step CPU seconds. Plain: transformers' forward with labels (causal SDPA over the row, full logits).
    `same_kernels`: the project's forward (document-masked attention, block loss) without the loop around it, which
    isolates the loop's own cost (accelerate, stream and batching, logging, clipping, the finite guard)."""
    import torch
    from accelerate.utils import set_seed

    from prolong.model.build import CausalLMWithLoss
    from prolong.train.batching import make_micro_batch
    from prolong.train.stage import build_data, init_model

    set_seed(p.train.seed)
    acc = type("Acc", (), {"is_main_process": True, "wait_for_everyone": lambda self: None})()
    data = build_data(p, acc)
    lm = init_model(p, data, None)
    net = CausalLMWithLoss(lm, p.model.loss_block_size)
    if not same_kernels:
        lm.set_attn_implementation("sdpa")  # plain causal attention over the row, transformers' own loss
    net.train()
    opt = torch.optim.AdamW(lm.parameters(), lr=p.optim.lr, betas=tuple(p.optim.betas), eps=p.optim.eps,
                            weight_decay=p.optim.weight_decay)
    stream = data.stream_factory(0, 1)
    n_micro = p.train.batch_size // p.train.micro_batch_size
    times = []
    for _ in range(steps):
        batches = [make_micro_batch([next(stream) for _ in range(p.train.micro_batch_size)], p.model.doc_masking)
                   for _ in range(n_micro)]
        t0 = time.process_time()
        for mb in batches:
            if same_kernels:
                loss_sum, n = net(**mb.model_inputs("cpu"))
                loss = loss_sum / n / n_micro
            else:
                loss = lm(input_ids=mb.input_ids, labels=mb.input_ids, use_cache=False).loss / n_micro
            loss.backward()
        opt.step()
        opt.zero_grad(set_to_none=True)
        times.append(time.process_time() - t0)
    return times


def project_loop(p) -> tuple[list[float], object]:
    """prolong.train.loop.train in a temporary run store: per-step CPU seconds (between consecutive on_step calls,
    so everything the loop does per step counts) and the training log."""
    from prolong import paths
    from prolong.train.loop import train

    store, marks = paths.runs_dir(), []
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["PROLONG_RUNS"] = tmp
        try:
            marks.append(time.process_time())
            run = train(p, run_name="bench", on_step=lambda step, rec: marks.append(time.process_time()))
            log = run.train_log()
        finally:
            os.environ["PROLONG_RUNS"] = str(store)
    return [b - a for a, b in zip(marks, marks[1:])], log


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--params", nargs="+", default=["params/tiny/stages/stage1.yaml", "params/tiny/stages/stage2.yaml"])
    parser.add_argument("--steps", type=int, default=None, help="steps per loop (default 6; --full 12)")
    parser.add_argument("--threads", type=int, default=1, help="train.cpu_threads of both loops")
    parser.add_argument("--full", action="store_true")
    a = parser.parse_args(argv)
    steps = a.steps or (12 if a.full else 6)
    os.environ.setdefault("PROLONG_QUIET", "1")

    from prolong.report.bench import ratio_row, write_summary
    from prolong.runs import Run
    from prolong.train.config import TrainParams

    rows, summary = [], []
    for params_file in a.params:
        p = TrainParams.from_yaml(params_file)
        p = dataclasses.replace(p, train=dataclasses.replace(p.train, steps=steps, init_from=None, load_optimizer=False,
                                                             checkpoint_every=steps, cpu_threads=a.threads))
        loop_times, log = project_loop(p)
        bare_times = bare_loop(p, steps)
        same_times = bare_loop(p, steps, same_kernels=True)
        loop_s, bare_s = statistics.median(loop_times[1:]), statistics.median(bare_times[1:])
        same_s = statistics.median(same_times[1:])
        tokens = p.train.batch_size * p.data.seq_len
        row = {"params": params_file, "seq_len": p.data.seq_len, "tokens_per_step": tokens,
               "loop_step_cpu_s": loop_s, "bare_step_cpu_s": bare_s, "ratio": loop_s / bare_s,
               "bare_same_kernels_step_cpu_s": same_s, "ratio_same_kernels": loop_s / same_s,
               "loop_tokens_per_cpu_s": tokens / loop_s, "bare_tokens_per_cpu_s": tokens / bare_s,
               "loop_step_wall_s": float(statistics.median(log.step_time_s.iloc[1:])),
               "mfu": float(statistics.median(log.mfu.iloc[1:])), "peak_mem_gib": float(log.peak_mem_gib.max()),
               "loss_first": float(log.loss.iloc[0]), "loss_last": float(log.loss.iloc[-1])}
        rows.append(row)
        name = f"{Path(params_file).parent.name}-{Path(params_file).stem}_steps{steps}_threads{a.threads}"
        bench = Run.open("bench_train", name, {"params": p.to_dict(), "steps": steps, "threads": a.threads})
        bench.write_scores({k: v for k, v in row.items() if isinstance(v, (int, float))})
        k = f"{p.data.seq_len // 1024}K"
        rs = [ratio_row(f"loop / bare step time @{k}", row["ratio"], "<=", TARGET,
                        f"{loop_s:.3f} vs {bare_s:.3f} cpu-s/step, {tokens / loop_s:.0f} tok/cpu-s"),
              ratio_row(f"loop / bare with the loop's kernels @{k}", loop_s / same_s, "<=", TARGET,
                        f"{loop_s:.3f} vs {same_s:.3f} cpu-s/step (the loop's own cost)")]
        summary += rs
        # the report reads the newest summary of a benchmark: the last run carries every length's rows
        write_summary(bench, summary, note=f"tiny model, {steps} steps, {a.threads} thread(s), median CPU time per "
                                           "step")
        bench.set_status("done")

    print(f"{'params':<34} {'seq':>5} {'loop s':>7} {'bare s':>7} {'ratio':>6} {'same-k s':>8} {'ratio':>6} "
          f"{'loop tok/s':>10}")
    for r in rows:
        print(f"{r['params']:<34} {r['seq_len']:>5} {r['loop_step_cpu_s']:>7.3f} {r['bare_step_cpu_s']:>7.3f} "
              f"{r['ratio']:>6.3f} {r['bare_same_kernels_step_cpu_s']:>8.3f} {r['ratio_same_kernels']:>6.3f} "
              f"{r['loop_tokens_per_cpu_s']:>10.0f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
