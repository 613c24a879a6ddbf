"""Benchmark of the data path: mixing + packing throughput per rank (tokens/s, one core) and peak memory, for two
corpus sizes and 1, 8 and 64 data-parallel ranks (rank 0 timed; each rank plans only its own share of a round).

    .venv/bin/python benchmarks/bench_data.py [--seq-len 65536] [--sizes 8 32] [--sequences 200] [--full]
                                              [--gpus 8] [--gpu-tokens-per-s 3000]     # --full: 16M and 64M, 400

Targets: >= 10M tokens/s per rank at 8 and 64 ranks; memory flat in corpus size (peak traced memory of the larger
corpus / the smaller's <= 1.25).

Synthetic token stores (60% long documents of 64K-256K tokens, 40% short documents of ~1K tokens) are written to a
temporary folder; the stream is the paper-like mixture long@0.6 + short@0.4. Peak memory is the tracemalloc peak of
the streaming phase (numpy buffers included; memory-mapped store pages are page cache, not counted) plus the
process's max RSS. Results are logged as runs `bench_data/<name>` (prolong.runs) and printed as a table.
"""

from __future__ import annotations

import argparse
import os
import resource
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from prolong.data.config import MixtureConfig  # noqa: E402
from prolong.data.mixing import MixtureStream  # noqa: E402
from prolong.data.store_build import write_token_store  # noqa: E402
from prolong.data.tokenizer import TokenizerIdentity  # noqa: E402
from prolong.report.bench import ratio_row, write_summary  # noqa: E402
from prolong.runs import Run  # noqa: E402

TARGET_TOKENS_PER_S = 10e6

TOK = TokenizerIdentity(name="bench", vocab_hash="b" * 64, vocab_size=128256, bos_id=128000, eos_id=128001)


def make_corpus(root: Path, million_tokens: int, seed: int = 0) -> None:
    """Write stores 'long' and 'short' with about `million_tokens` * 1e6 tokens in total."""
    rng = np.random.default_rng(seed)
    for name, share, (lo, hi) in (("long", 0.6, (65536, 262144)), ("short", 0.4, (50, 4000))):
        budget, docs = int(share * million_tokens * 1e6), []
        while budget > 0:
            n = int(min(rng.integers(lo, hi), budget)) if name == "long" else int(min(rng.lognormal(6.5, 0.8) + lo, hi))
            docs.append(rng.integers(0, 128000, size=max(n, 1), dtype=np.uint32))
            budget -= n
        write_token_store(root / name, docs, TOK, docs_per_shard=2000 if name == "short" else 50)
        del docs


def bench(root: Path, seq_len: int, n_seqs: int, dp_size: int) -> dict[str, float]:
    os.environ["PROLONG_DATA"] = str(root)
    mix = MixtureConfig.from_dict({"domains": {"long": {"store": "long", "min_tokens": 65536},
                                               "short": {"store": "short"}},
                                   "mixture": ["long@0.6", "short@0.4"]}, "bench")
    tracemalloc.start()
    stream = MixtureStream.from_mixture(mix, seq_len=seq_len, seed=0, dp_rank=0, dp_size=dp_size, tokenizer=TOK)
    stream.take(5)                                          # warm the page cache / first shard orders
    t0 = time.process_time()  # CPU time of this one-threaded loop: the shared machine's other jobs do not count
    n_tokens = 0
    for _ in range(n_seqs):
        n_tokens += len(next(stream).input_ids)
    seconds = time.process_time() - t0
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    return {"tokens_per_s": n_tokens / seconds, "tokens": n_tokens, "seconds": seconds,
            "peak_traced_MiB": peak / 2**20}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--seq-len", type=int, default=65536)
    ap.add_argument("--sizes", type=int, nargs="+", default=None, help="corpus sizes in millions of tokens (8 32)")
    ap.add_argument("--sequences", type=int, default=None, help="sequences timed per case (200)")
    ap.add_argument("--dp-size", type=int, nargs="+", default=[1, 8, 64], help="data-parallel sizes (rank 0 timed)")
    ap.add_argument("--full", action="store_true", help="corpora of 16M and 64M tokens, 400 sequences")
    ap.add_argument("--gpus", type=int, default=8)
    ap.add_argument("--gpu-tokens-per-s", type=float, default=3000.0, help="training consumption per GPU")
    args = ap.parse_args()
    args.sizes = args.sizes or ([16, 64] if args.full else [8, 32])
    args.sequences = args.sequences or (400 if args.full else 200)
    need = args.gpus * args.gpu_tokens_per_s
    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_data_") as tmp:
        for size in args.sizes:
            root = Path(tmp) / f"{size}M"
            t0 = time.perf_counter()
            make_corpus(root, size)
            build_s = time.perf_counter() - t0
            for dp in args.dp_size:
                r = bench(root, args.seq_len, args.sequences, dp)
                r.update(corpus_M_tokens=size, dp_size=dp, build_s=build_s,
                         max_rss_MiB=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                         needed_tokens_per_s=need, headroom=r["tokens_per_s"] / need)
                params = {"seq_len": args.seq_len, "corpus_M_tokens": size, "sequences": args.sequences,
                          "dp_size": dp, "gpus": args.gpus, "gpu_tokens_per_s": args.gpu_tokens_per_s}
                run = Run.open("bench_data", f"seq{args.seq_len}_corpus{size}M_dp{dp}", params)
                run.write_scores({k: v for k, v in r.items() if isinstance(v, (int, float))})
                run.set_status("done")
                rows.append(r)
    summary = []
    for dp in (d for d in args.dp_size if d > 1):
        worst = min((r for r in rows if r["dp_size"] == dp), key=lambda r: r["tokens_per_s"])
        summary.append(ratio_row(f"tokens/s per rank at {dp} ranks / 10M", worst["tokens_per_s"] / TARGET_TOKENS_PER_S,
                                 ">=", 1.0, f"{worst['tokens_per_s'] / 1e6:.1f}M tok/s (corpus "
                                            f"{worst['corpus_M_tokens']}M, slowest)"))
    small, large = min(args.sizes), max(args.sizes)
    for dp in args.dp_size:
        mem = {r["corpus_M_tokens"]: r["peak_traced_MiB"] for r in rows if r["dp_size"] == dp}
        if small != large:
            summary.append(ratio_row(f"peak memory, corpus {large}M / {small}M at {dp} rank(s)",
                                     mem[large] / mem[small], "<=", 1.25, f"{mem[large]:.1f} vs {mem[small]:.1f} MB"))
    write_summary(run, summary, note=f"seq_len {args.seq_len}, {args.sequences} sequences per case, one core, "
                                     "rank 0 timed; memory = tracemalloc peak while streaming")
    print(f"\nmixing + packing, seq_len {args.seq_len}, one core; training consumes {need:,.0f} tokens/s "
          f"({args.gpus} GPUs x {args.gpu_tokens_per_s:,.0f})")
    print(f"{'corpus':>8} {'dp':>3} {'tokens/s':>14} {'x needed':>9} {'peak traced':>12} {'max RSS':>9}")
    for r in rows:
        print(f"{r['corpus_M_tokens']:>7}M {r['dp_size']:>3} {r['tokens_per_s']:>14,.0f} {r['headroom']:>9,.0f} "
              f"{r['peak_traced_MiB']:>10.1f}MB {r['max_rss_MiB']:>7.0f}MB")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
