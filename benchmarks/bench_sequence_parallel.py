"""Benchmark: sequence parallelism (DeepSpeed-Ulysses style all-to-all over heads) at tiny scale on CPU gloo.

    .venv/bin/python benchmarks/bench_sequence_parallel.py [--seq-len 4096] [--degrees 1 2 4] [--repeats 3]
                                                           [--layers 4] [--hidden 128] [--heads 4] [--kv-heads 2]

For each SP degree P (1 = one process, no SP) one forward + backward of a tiny Llama over one packed row of
`seq-len` tokens is timed (median of `repeats` after one warm-up), for two document layouts:
  crossing  log-uniform document lengths (mean 512): documents cross chunk boundaries -> all-to-all path
  aligned   every chunk boundary is a document boundary -> fast path (no communication)
Communication: bytes each rank sends to the other ranks through the all-to-alls, per decoder layer, forward and
backward, counted in the autograd Function (prolong.model.ulysses.COMM_STATS) and from the formula
`a2a_bytes_per_layer`; they must agree. Each process runs 1 thread; on a 2-core machine P = 4 oversubscribes the
cores, so step times at P = 4 measure contention as much as SP (the point at this scale is the bytes and that the
path runs; speed-ups need one accelerator per rank). Also prints the formula for Llama-3-8B at 512K, degree 8, bf16.
Results are logged as run bench_sequence_parallel/<name>.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402
import torch.multiprocessing as mp  # noqa: E402


def doc_lengths(kind: str, T: int, P: int, seed: int = 0) -> list[int]:
    if kind == "aligned":
        C = T // P
        return [C // 4, C // 4, C - 2 * (C // 4)] * P
    rng = np.random.default_rng(seed)
    lens, left = [], T
    while left > 0:
        n = int(min(left, np.exp(rng.uniform(np.log(32), np.log(2048)))))
        lens.append(n)
        left -= n
    return lens


def _model(args: dict):
    from prolong.model.build import CausalLMWithLoss, ModelConfig, build_model
    from prolong.model.ulysses import enable_sequence_parallel

    torch.manual_seed(0)
    cfg = ModelConfig(hidden_size=args["hidden"], intermediate_size=3 * args["hidden"], num_layers=args["layers"],
                      num_heads=args["heads"], num_kv_heads=args["kv_heads"], vocab_size=512,
                      max_position_embeddings=args["seq_len"], attention="sdpa", loss_block_size=1024)
    lm = enable_sequence_parallel(build_model(cfg))
    return CausalLMWithLoss(lm, block_size=1024)


def _measure(rank: int, P: int, args: dict, kind: str) -> dict:
    from prolong.data.packing import PackedSequence
    from prolong.model import ulysses as sp
    from prolong.train.batching import make_micro_batch

    T = args["seq_len"]
    net = _model(args)
    ids = np.random.default_rng(1).integers(0, 512, T)
    shard = make_micro_batch([PackedSequence(ids, np.asarray(doc_lengths(kind, T, P)), None, kind)]).shard(rank, P)
    group = dist.group.WORLD if P > 1 else None
    times = []
    with sp.sequence_parallel(group):
        for i in range(args["repeats"] + 1):
            sp.COMM_STATS.reset()
            if P > 1:
                dist.barrier()
            t0 = time.perf_counter()
            loss_sum, _ = net(**shard.model_inputs("cpu"))
            loss_sum.backward()
            if P > 1:
                dist.barrier()
            if i:
                times.append(time.perf_counter() - t0)
            net.zero_grad(set_to_none=True)
    L = args["layers"]
    hs = args["hidden"] // args["heads"]
    formula = sp.a2a_bytes_per_layer(T, args["heads"], args["kv_heads"], hs, P, bytes_per_elem=4)
    return {"step_s": statistics.median(times), "needs_all_to_all": shard.needs_all_to_all,
            "fwd_bytes_per_layer": sp.COMM_STATS.forward_bytes / L,
            "bwd_bytes_per_layer": sp.COMM_STATS.backward_bytes / L,
            "formula_fwd_bytes_per_layer": formula["forward"] if shard.needs_all_to_all else 0,
            "formula_bwd_bytes_per_layer": formula["backward"] if shard.needs_all_to_all else 0}


def _worker(rank: int, P: int, port: int, args: dict, out: str) -> None:
    torch.set_num_threads(1)
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    dist.init_process_group("gloo", rank=rank, world_size=P)
    try:
        res = {kind: _measure(rank, P, args, kind) for kind in ("crossing", "aligned")}
        if rank == 0:
            Path(out).write_text(json.dumps(res))
    finally:
        dist.destroy_process_group()


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_degree(P: int, args: dict) -> dict:
    if P == 1:
        torch.set_num_threads(1)
        return {kind: _measure(0, 1, args, kind) for kind in ("crossing", "aligned")}
    out = Path(tempfile.mkdtemp(prefix="bench_sp_")) / "res.json"
    mp.get_context("forkserver").set_forkserver_preload(["torch", "transformers.models.llama.modeling_llama",
                                                         "prolong.model.ulysses", "prolong.model.build"])
    mp.start_processes(_worker, args=(P, _free_port(), args, str(out)), nprocs=P, join=True,
                       start_method="forkserver")
    return json.loads(out.read_text())


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seq-len", type=int, default=4096)
    ap.add_argument("--degrees", type=int, nargs="+", default=[1, 2, 4])
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--layers", type=int, default=4)
    ap.add_argument("--hidden", type=int, default=128)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--kv-heads", type=int, default=2)
    ap.add_argument("--name", default=None, help="run name (default: derived from the settings)")
    a = ap.parse_args()
    args = dict(seq_len=a.seq_len, repeats=a.repeats, layers=a.layers, hidden=a.hidden, heads=a.heads,
                kv_heads=a.kv_heads)

    from prolong.model.ulysses import a2a_bytes_per_layer
    from prolong.runs import Run

    name = a.name or (f"T{a.seq_len}-L{a.layers}-d{a.hidden}-h{a.heads}kv{a.kv_heads}-P"
                      + "_".join(map(str, a.degrees)))
    run = Run.open("bench_sequence_parallel", name, {**args, "degrees": a.degrees, "threads_per_process": 1,
                                                     "cpu_count": os.cpu_count()})
    run.set_status("running")
    try:
        results = {P: run_degree(P, args) for P in a.degrees}
    except BaseException as err:
        run.set_status("failed", f"{type(err).__name__}: {err}")
        raise
    base = results[a.degrees[0]]
    print(f"T={a.seq_len} layers={a.layers} hidden={a.hidden} heads={a.heads} kv_heads={a.kv_heads} (fp32, gloo, "
          f"1 thread/process, {os.cpu_count()} cores)")
    print(f"{'P':>2} {'layout':>9} {'a2a':>5} {'step_s':>8} {'vs P=1':>7} {'fwd B/layer':>12} {'bwd B/layer':>12} "
          f"{'formula':>10}")
    scores: dict[str, float] = {}
    for P, res in results.items():
        for kind, r in res.items():
            ratio = r["step_s"] / base[kind]["step_s"]
            print(f"{P:>2} {kind:>9} {str(r['needs_all_to_all']):>5} {r['step_s']:8.3f} {ratio:7.2f} "
                  f"{r['fwd_bytes_per_layer']:12.0f} {r['bwd_bytes_per_layer']:12.0f} "
                  f"{r['formula_fwd_bytes_per_layer']:10.0f}")
            key = f"P{P}_{kind}"
            scores.update({f"{key}_step_s": r["step_s"], f"{key}_step_vs_P1": ratio,
                           f"{key}_fwd_bytes_per_layer": r["fwd_bytes_per_layer"],
                           f"{key}_bwd_bytes_per_layer": r["bwd_bytes_per_layer"],
                           f"{key}_formula_bytes_per_layer": r["formula_fwd_bytes_per_layer"]})
    paper = a2a_bytes_per_layer(524_288, 32, 8, 128, 8, bytes_per_elem=2)
    scores["llama3_8b_512k_P8_bf16_fwd_bytes_per_layer_per_rank"] = paper["forward"]
    print(f"Llama-3-8B, 512K tokens, degree 8, bf16: {paper['forward'] / 2**30:.3f} GiB per layer per rank forward "
          f"(same backward); x 32 layers = {32 * 2 * paper['forward'] / 2**30:.1f} GiB per rank per micro-batch "
          "(+ one more forward's worth with gradient checkpointing)")
    run.write_scores(scores)
    from prolong.report.bench import ratio_row, write_summary

    crossing = [(P, res["crossing"]) for P, res in results.items() if P > 1 and "crossing" in res]
    write_summary(run, [ratio_row(f"all-to-all bytes measured / formula, P={P}", r["fwd_bytes_per_layer"]
                                  / max(r["formula_fwd_bytes_per_layer"], 1), "==", 1.0,
                                  f"{r['fwd_bytes_per_layer']:.0f} B per layer forward")
                        for P, r in crossing], note="CPU gloo, 1 thread per process: bytes, not speed")
    run.set_status("done")
    print(f"logged: {run.path}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
