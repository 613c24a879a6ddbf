"""Benchmark: CPU document-masked attention (one causal SDPA call per document) against dense-mask SDPA.

    .venv/bin/python benchmarks/bench_attention.py [--lengths 2048 4096 8192 16384] [--heads 8] [--kv-heads 2]
                                                   [--head-dim 64] [--mean-doc 1024] [--repeats 3] [--backward]

Each packed sequence holds documents with lengths drawn log-uniformly between 64 and 4 x mean-doc tokens (cut to the
sequence). Both methods compute the same document-causal attention:
  per_doc  prolong.model.attention.document_attention, backend "sdpa" (no (L, L) mask: memory linear in L)
  dense    F.scaled_dot_product_attention with an (L, L) boolean document-causal mask (the baseline)
Every (method, length) runs in a fresh process so its peak memory is its own: peak = max RSS after the call minus
RSS before it (inputs already allocated). Time is the best of `repeats` calls (forward only; --backward adds the
backward pass). The two outputs are checked to agree. Results are logged as runs bench_attention/<name> and printed
as a table with per_doc / dense ratios.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import resource
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def _rss_gib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def doc_lengths(L: int, mean_doc: int, seed: int = 0) -> list[int]:
    import numpy as np

    rng = np.random.default_rng(seed)
    lens, left = [], L
    while left > 0:
        n = int(min(left, np.exp(rng.uniform(np.log(64), np.log(4 * mean_doc)))))
        lens.append(n)
        left -= n
    return lens


def _measure(method: str, L: int, args: dict) -> dict:
    import torch
    import torch.nn.functional as F

    from prolong.model.attention import cu_seqlens_from_doc_lens, document_attention

    torch.set_num_threads(args["threads"] or torch.get_num_threads())
    torch.manual_seed(0)
    H, Hkv, D = args["heads"], args["kv_heads"], args["head_dim"]
    lens = doc_lengths(L, args["mean_doc"])
    q = torch.randn(1, H, L, D, requires_grad=args["backward"])
    k = torch.randn(1, Hkv, L, D, requires_grad=args["backward"])
    v = torch.randn(1, Hkv, L, D, requires_grad=args["backward"])
    cu = cu_seqlens_from_doc_lens(lens)
    module = torch.nn.Module()
    module.config = type("Cfg", (), {"prolong_attn_backend": "sdpa"})()

    def per_doc():
        return document_attention(module, q, k, v, None, scaling=D ** -0.5, cu_seq_lens_q=cu)[0]

    def dense():
        doc = torch.repeat_interleave(torch.arange(len(lens)), torch.tensor(lens))
        pos = torch.arange(L)
        mask = (doc[:, None] == doc[None, :]) & (pos[:, None] >= pos[None, :])  # (L, L)
        kk, vv = k.repeat_interleave(H // Hkv, 1), v.repeat_interleave(H // Hkv, 1)
        return F.scaled_dot_product_attention(q, kk, vv, attn_mask=mask, scale=D ** -0.5).transpose(1, 2)

    fn = per_doc if method == "per_doc" else dense
    base = _rss_gib()
    times = []
    for _ in range(args["repeats"]):
        t0 = time.perf_counter()
        with torch.set_grad_enabled(args["backward"]):
            out = fn()
            if args["backward"]:
                out.sum().backward()
        times.append(time.perf_counter() - t0)
    peak = _rss_gib() - base
    check = out.detach()[0, :64].float().sum().item()
    return {"method": method, "length": L, "n_docs": len(lens), "seconds": min(times), "peak_mem_gib": peak,
            "check": check, "tokens_per_s": L / min(times)}


def _child(queue, method, L, args):
    try:
        queue.put(_measure(method, L, args))
    except BaseException as err:  # noqa: BLE001
        queue.put({"method": method, "length": L, "error": f"{type(err).__name__}: {err}"})


def run_isolated(method: str, L: int, args: dict) -> dict:
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue, method, L, args))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=int, nargs="+", default=[2048, 4096, 8192, 16384])
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--kv-heads", type=int, default=2)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--mean-doc", type=int, default=1024)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: torch's default)")
    parser.add_argument("--backward", action="store_true", help="time forward + backward")
    parser.add_argument("--name", default=None, help="run name (default: derived from the settings)")
    a = parser.parse_args(argv)
    args = {"heads": a.heads, "kv_heads": a.kv_heads, "head_dim": a.head_dim, "mean_doc": a.mean_doc,
            "repeats": a.repeats, "threads": a.threads, "backward": a.backward}

    from prolong.runs import Run

    rows = []
    for L in a.lengths:
        per_doc = run_isolated("per_doc", L, args)
        dense = run_isolated("dense", L, args)
        rows.append((L, per_doc, dense))

    name = a.name or (f"cpu_h{a.heads}kv{a.kv_heads}d{a.head_dim}_doc{a.mean_doc}"
                      f"{'_fwdbwd' if a.backward else '_fwd'}")
    run = Run.open("bench_attention", name, {**args, "lengths": a.lengths, "device": "cpu"})
    scores = {}
    print(f"{'tokens':>7} {'docs':>5} {'per_doc s':>10} {'dense s':>9} {'time ratio':>10} "
          f"{'per_doc GiB':>11} {'dense GiB':>9} {'mem ratio':>9}")
    for L, p, d in rows:
        if "error" in p or "error" in d:
            print(f"{L:>7} per_doc: {p.get('error', 'ok')}  dense: {d.get('error', 'ok')}")
            continue
        if abs(p["check"] - d["check"]) > 1e-2 * max(1.0, abs(d["check"])):
            raise AssertionError(f"L={L}: per-document and dense attention disagree ({p['check']} vs {d['check']})")
        t_ratio, m_ratio = p["seconds"] / d["seconds"], p["peak_mem_gib"] / max(d["peak_mem_gib"], 1e-6)
        print(f"{L:>7} {p['n_docs']:>5} {p['seconds']:>10.4f} {d['seconds']:>9.4f} {t_ratio:>10.3f} "
              f"{p['peak_mem_gib']:>11.3f} {d['peak_mem_gib']:>9.3f} {m_ratio:>9.3f}")
        scores.update({f"per_doc_s@{L}": p["seconds"], f"dense_s@{L}": d["seconds"], f"time_ratio@{L}": t_ratio,
                       f"per_doc_gib@{L}": p["peak_mem_gib"], f"dense_gib@{L}": d["peak_mem_gib"],
                       f"mem_ratio@{L}": m_ratio})
        run.log_step({"step": L, "per_doc": p, "dense": d})
    run.write_scores(scores)
    run.set_status("done")
    print(f"logged: {run.path}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PROLONG_QUIET", "1")
    sys.exit(main())
