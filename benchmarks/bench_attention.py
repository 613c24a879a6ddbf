"""Benchmark: CPU document-masked attention, forward. Four ways to compute the same document-causal attention of one
packed row of L tokens holding n documents (cut points drawn uniformly, seed 0):

  per_doc       prolong.model.attention.document_attention, backend "sdpa": one causal SDPA call per document (the
                reference and `attention: auto` on CPU)
  dense         one SDPA call with the (L, L) boolean document-causal mask
  block_sparse  tiles of --block queries, each against the keys of the documents it touches: a tile inside one
                document is a lower-right causal chunk (prolong.model.cached_attention, no mask), a tile across
                documents one SDPA call with its (block, window) mask; no (L, L) anything
  flex          FlexAttention (torch.compile'd, CPU inductor) with a document-causal block mask; compile and mask
                time are logged apart and not in its time

    .venv/bin/python benchmarks/bench_attention.py [--full] [--lengths 2048 8192] [--docs 1 8 64] [--repeats 3]

Default: L in 2K, 8K; --full: 2K, 4K, 8K, 16K. Every L runs in a fresh process (spawn) with one thread; time is
the best of `repeats` calls of process CPU time (the machine is shared). Each method's output must equal per_doc's
(max abs difference <= 1e-5; document-masked attention equals each document alone, tests/model). Logged as runs
bench_attention/<name> with summary.json (the fastest correct method's speed over per_doc) for figures/bench.md.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

METHODS = ("per_doc", "dense", "block_sparse", "flex")
TOLERANCE = 1e-5


def doc_lengths(L: int, n_docs: int, seed: int = 0) -> list[int]:
    """n_docs positive lengths summing to L, cut at uniformly drawn points."""
    import numpy as np

    rng = np.random.default_rng([seed, L, n_docs])
    cuts = np.sort(rng.choice(np.arange(1, L), size=n_docs - 1, replace=False)) if n_docs > 1 else np.array([], int)
    return np.diff(np.concatenate([[0], cuts, [L]])).astype(int).tolist()


def block_sparse(q, k, v, lens: list[int], scale: float, block: int):
    """q (1, H, L, hs), k/v (1, H, L, hs) (heads already expanded) -> (1, H, L, hs), tile by tile."""
    import numpy as np
    import torch
    import torch.nn.functional as F

    from prolong.model.cached_attention import chunk_causal_attention

    L = q.shape[2]
    cu = np.concatenate([[0], np.cumsum(lens)])
    doc = torch.from_numpy(np.repeat(np.arange(len(lens)), lens))  # (L,) document of each position
    pos = torch.arange(L)
    outs = []
    for s in range(0, L, block):
        e = min(L, s + block)
        lo = int(cu[np.searchsorted(cu, s, side="right") - 1])  # start of the document holding query s
        if doc[s] == doc[e - 1]:  # one document: causal against its own past, no mask tensor
            outs.append(chunk_causal_attention(q[:, :, s:e], k[:, :, lo:e], v[:, :, lo:e], scale))
        else:
            mask = (doc[s:e, None] == doc[None, lo:e]) & (pos[s:e, None] >= pos[None, lo:e])  # (tile, window)
            outs.append(F.scaled_dot_product_attention(q[:, :, s:e], k[:, :, lo:e], v[:, :, lo:e], attn_mask=mask,
                                                       scale=scale))
    return torch.cat(outs, dim=2)


_FLEX: dict = {}


def _measure(L: int, n_docs: int, args: dict) -> dict:
    import torch
    import torch.nn.functional as F

    from prolong.model.attention import cu_seqlens_from_doc_lens, document_attention

    torch.set_num_threads(1)
    torch.manual_seed(0)
    H, Hkv, D = args["heads"], args["kv_heads"], args["head_dim"]
    scale = D ** -0.5
    lens = doc_lengths(L, n_docs)
    q, k, v = torch.randn(1, H, L, D), torch.randn(1, Hkv, L, D), torch.randn(1, Hkv, L, D)
    cu = cu_seqlens_from_doc_lens(lens)
    module = torch.nn.Module()
    module.config = type("Cfg", (), {"prolong_attn_backend": "sdpa"})()
    doc = torch.repeat_interleave(torch.arange(len(lens)), torch.tensor(lens))
    pos = torch.arange(L)
    extra: dict = {}

    def per_doc():
        return document_attention(module, q, k, v, None, scaling=scale, cu_seq_lens_q=cu)[0]  # (1, L, H, hs)

    def dense():
        mask = (doc[:, None] == doc[None, :]) & (pos[:, None] >= pos[None, :])  # (L, L)
        kk, vv = k.repeat_interleave(H // Hkv, 1), v.repeat_interleave(H // Hkv, 1)
        return F.scaled_dot_product_attention(q, kk, vv, attn_mask=mask, scale=scale).transpose(1, 2)

    def blocks():
        kk, vv = k.repeat_interleave(H // Hkv, 1), v.repeat_interleave(H // Hkv, 1)
        return block_sparse(q, kk, vv, lens, scale, args["block"]).transpose(1, 2)

    def flex_setup():
        from torch.nn.attention.flex_attention import create_block_mask, flex_attention

        t0 = time.perf_counter()
        bm = create_block_mask(lambda b, h, qi, ki: (doc[qi] == doc[ki]) & (qi >= ki), None, None, L, L,
                               device="cpu")
        if "kernel" not in _FLEX:  # compiled once per process (one length), reused for every document count
            _FLEX["kernel"] = torch.compile(flex_attention, dynamic=False)
        kernel = _FLEX["kernel"]
        kernel(q, k, v, block_mask=bm, scale=scale, enable_gqa=True)
        extra["flex_setup_s"] = time.perf_counter() - t0
        return lambda: kernel(q, k, v, block_mask=bm, scale=scale, enable_gqa=True).transpose(1, 2)

    fns = {"per_doc": per_doc, "dense": dense, "block_sparse": blocks}
    if args["flex"]:
        try:
            fns["flex"] = flex_setup()
        except Exception as err:  # noqa: BLE001 - a CPU without inductor support: reported, not fatal
            extra["flex_error"] = f"{type(err).__name__}: {str(err)[:200]}"
    ref = None
    out = {"length": L, "n_docs": len(lens), **extra}
    with torch.no_grad():
        for name, fn in fns.items():
            times = []
            for _ in range(args["repeats"]):
                t0 = time.process_time()
                o = fn()
                times.append(time.process_time() - t0)
            ref = o if ref is None else ref
            out[f"{name}_s"] = min(times)
            out[f"{name}_maxdiff"] = float((o - ref).abs().max())
    return out


def _child(queue, L, docs, args):
    rows = []
    for n_docs in docs:
        try:
            rows.append(_measure(L, n_docs, args))
        except BaseException as err:  # noqa: BLE001
            rows.append({"length": L, "n_docs": n_docs, "error": f"{type(err).__name__}: {err}"})
    queue.put(rows)


def run_isolated(L: int, docs: list[int], args: dict) -> list[dict]:
    """Every document count of one length in a fresh process (FlexAttention compiles once per length)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(queue, L, docs, args))
    proc.start()
    result = queue.get()
    proc.join()
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=int, nargs="+", default=None)
    parser.add_argument("--docs", type=int, nargs="+", default=[1, 8, 64], help="documents per sequence")
    parser.add_argument("--heads", type=int, default=8)
    parser.add_argument("--kv-heads", type=int, default=2)
    parser.add_argument("--head-dim", type=int, default=64)
    parser.add_argument("--block", type=int, default=512, help="queries per tile of block_sparse")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--no-flex", action="store_true", help="skip FlexAttention (it compiles per shape)")
    parser.add_argument("--full", action="store_true", help="2K, 4K, 8K and 16K")
    a = parser.parse_args(argv)
    lengths = a.lengths or ([2048, 4096, 8192, 16384] if a.full else [2048, 8192])
    args = {"heads": a.heads, "kv_heads": a.kv_heads, "head_dim": a.head_dim, "block": a.block,
            "repeats": a.repeats, "flex": not a.no_flex}

    from prolong.report.bench import ratio_row, write_summary
    from prolong.runs import Run

    rows = [r for L in lengths for r in run_isolated(L, a.docs, args)]
    name = f"cpu_h{a.heads}kv{a.kv_heads}d{a.head_dim}_fwd_{'full' if a.full else 'default'}"
    run = Run.open("bench_attention", name, {**args, "lengths": lengths, "docs": a.docs, "device": "cpu"})
    scores, summary = {}, []
    print(f"{'tokens':>7} {'docs':>5} " + " ".join(f"{m + ' s':>14}" for m in METHODS) + "   fastest correct")
    for r in rows:
        if "error" in r:
            print(f"{r['length']:>7} {r['n_docs']:>5} error: {r['error']}")
            continue
        ok = [m for m in METHODS if f"{m}_s" in r and r[f"{m}_maxdiff"] <= TOLERANCE]
        best = min(ok, key=lambda m: r[f"{m}_s"])
        cells = [f"{r[f'{m}_s']:>9.4f}{'' if r[f'{m}_maxdiff'] <= TOLERANCE else ' (!=)':>5}" if f"{m}_s" in r
                 else f"{'-':>14}" for m in METHODS]
        print(f"{r['length']:>7} {r['n_docs']:>5} " + " ".join(cells) + f"   {best}")
        key = f"{r['length']}_{r['n_docs']}docs"
        scores.update({f"{m}_s@{key}": r[f"{m}_s"] for m in METHODS if f"{m}_s" in r})
        run.log_step({"step": len(scores), **r})
        others = [m for m in ok if m != "per_doc"]
        if others:
            alt = min(others, key=lambda m: r[f"{m}_s"])
            summary.append(ratio_row(f"per_doc time / {alt} time @{r['length'] // 1024}K, {r['n_docs']} docs",
                                     r["per_doc_s"] / r[f"{alt}_s"], "<=", 1.0,
                                     f"per_doc {r['per_doc_s'] * 1e3:.1f} ms, {alt} {r[f'{alt}_s'] * 1e3:.1f} ms; "
                                     f"fastest: {best}"))
    run.write_scores(scores)
    write_summary(run, summary, note="forward, 1 thread, CPU time; ratio <= 1: auto's per-document SDPA is at least "
                                     "as fast as the best alternative")
    run.set_status("done")
    print(f"logged: {run.path}")
    return 0


if __name__ == "__main__":
    os.environ.setdefault("PROLONG_QUIET", "1")
    sys.exit(main())
