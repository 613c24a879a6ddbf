"""GPU check (needs CUDA; not run in CI): the document-masked attention kernels against per-document SDPA, their
speed at 64K tokens, and one training step of a small model. Prints one JSON object.

    .venv/bin/python benchmarks/gpu_check.py [--length 65536] [--heads 32] [--kv-heads 8] [--head-dim 128]

Checks
  correctness  flash-attn varlen (when importable) and FlexAttention outputs and input gradients vs the per-document
               SDPA reference on a 4K-token packed sequence (bf16; max abs error reported, pass if < 2e-2)
  speed        forward + backward time and peak memory of each kernel at --length tokens (Llama-3-8B head shapes)
  train step   one optimizer step of a small Llama (bf16 autocast, gradient checkpointing, block loss) through
               prolong.train.loop.train_step on a packed 16K-token sequence; loss must be finite
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import numpy as np  # noqa: E402
import torch  # noqa: E402


def _module(backend: str):
    m = torch.nn.Module()
    m.config = type("Cfg", (), {"prolong_attn_backend": backend})()
    return m


def _doc_lens(L: int, seed: int = 0) -> list[int]:
    rng = np.random.default_rng(seed)
    lens, left = [], L
    while left > 0:
        n = int(min(left, np.exp(rng.uniform(np.log(128), np.log(max(256, L // 2))))))
        lens.append(n)
        left -= n
    return lens


def _inputs(L: int, H: int, Hkv: int, D: int, seed: int = 0):
    g = torch.Generator(device="cuda").manual_seed(seed)
    mk = lambda h: torch.randn(1, h, L, D, device="cuda", dtype=torch.bfloat16, generator=g).requires_grad_()  # noqa
    return mk(H), mk(Hkv), mk(Hkv)


def _run(backend: str, q, k, v, cu, max_len):
    from prolong.model.attention import document_attention

    out, _ = document_attention(_module(backend), q, k, v, None, scaling=q.shape[-1] ** -0.5,
                                cu_seq_lens_q=cu, cu_seq_lens_k=cu, max_length_q=max_len, max_length_k=max_len)
    return out


def check_correctness(backends: list[str], H: int, Hkv: int, D: int) -> dict:
    from prolong.model.attention import cu_seqlens_from_doc_lens

    L = 4096
    lens = _doc_lens(L, seed=1)
    cu = cu_seqlens_from_doc_lens(lens, device="cuda")
    q, k, v = _inputs(L, H, Hkv, D, seed=1)
    dout = torch.randn(1, L, H, D, device="cuda", dtype=torch.bfloat16)
    results, ref = {}, None
    for backend in ["sdpa"] + backends:
        for t in (q, k, v):
            t.grad = None
        out = _run(backend, q, k, v, cu, max(lens))
        out.backward(dout)
        got = [out.detach().float()] + [t.grad.detach().float() for t in (q, k, v)]
        if backend == "sdpa":
            ref = got
            continue
        errs = [float((a - b).abs().max()) for a, b in zip(got, ref)]
        results[backend] = {"max_abs_err_out": errs[0], "max_abs_err_dq": errs[1], "max_abs_err_dk": errs[2],
                            "max_abs_err_dv": errs[3], "ok": max(errs) < 2e-2}
    return results


def time_kernels(backends: list[str], L: int, H: int, Hkv: int, D: int, repeats: int = 3) -> dict:
    from prolong.model.attention import cu_seqlens_from_doc_lens

    lens = _doc_lens(L)
    cu = cu_seqlens_from_doc_lens(lens, device="cuda")
    q, k, v = _inputs(L, H, Hkv, D)
    out = {"length": L, "n_docs": len(lens)}
    for backend in ["sdpa"] + backends:
        _run(backend, q, k, v, cu, max(lens)).sum().backward()  # warm-up (compiles FlexAttention)
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            _run(backend, q, k, v, cu, max(lens)).sum().backward()
            torch.cuda.synchronize()
            times.append(time.perf_counter() - t0)
        out[backend] = {"fwd_bwd_s": min(times), "peak_mem_gib": torch.cuda.max_memory_allocated() / 2**30}
    return out


def train_step_check() -> dict:
    from prolong.model.build import ModelConfig, build_model
    from prolong.train.batching import make_micro_batch
    from prolong.train.config import OptimConfig
    from prolong.train.distributed import setup_distributed
    from prolong.train.loop import make_optimizer, train_step
    from prolong.train.parallelize import init_layout, parallelize
    from prolong.data.packing import PackedSequence

    acc = setup_distributed("bf16")
    cfg = ModelConfig(hidden_size=512, intermediate_size=1536, num_layers=4, num_heads=8, num_kv_heads=2,
                      vocab_size=32000, max_position_embeddings=16384, rope_theta=8e6, gradient_checkpointing=True,
                      loss_block_size=2048)
    torch.manual_seed(0)
    net, optimizer = parallelize(build_model(cfg), init_layout(1), acc,
                                 gradient_checkpointing=cfg.gradient_checkpointing, loss_block_size=cfg.loss_block_size,
                                 make_optimizer=lambda m: make_optimizer(m, OptimConfig(lr=1e-4)))
    L = 16384
    lens = np.asarray(_doc_lens(L, seed=2), np.int32)
    seq = PackedSequence(np.random.default_rng(0).integers(0, 32000, L).astype(np.int32), lens, None, "check")
    torch.cuda.reset_peak_memory_stats()
    t0 = time.perf_counter()
    out = train_step(acc, net, optimizer, [make_micro_batch([seq])], lr=1e-4, grad_clip=1.0)
    torch.cuda.synchronize()
    return {**out, "seconds": time.perf_counter() - t0, "peak_mem_gib": torch.cuda.max_memory_allocated() / 2**30,
            "ok": bool(np.isfinite(out["loss"]) and np.isfinite(out["grad_norm"]))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--length", type=int, default=65536)
    parser.add_argument("--heads", type=int, default=32)
    parser.add_argument("--kv-heads", type=int, default=8)
    parser.add_argument("--head-dim", type=int, default=128)
    a = parser.parse_args()
    if not torch.cuda.is_available():
        print(json.dumps({"error": "CUDA not available"}))
        return 1
    from prolong.model.attention import flash_attn_available

    backends = (["flash"] if flash_attn_available() else []) + ["flex"]
    report: dict = {"device": torch.cuda.get_device_name(), "torch": torch.__version__, "backends": backends}
    for name, fn in (("correctness", lambda: check_correctness(backends, a.heads, a.kv_heads, a.head_dim)),
                     ("timing", lambda: time_kernels(backends, a.length, a.heads, a.kv_heads, a.head_dim)),
                     ("train_step", train_step_check)):
        try:
            report[name] = fn()
        except Exception as err:  # noqa: BLE001 - reported, the other checks still run
            report[name] = {"error": f"{type(err).__name__}: {err}"}
    print(json.dumps(report, indent=2, default=str))
    ok = all(r.get("ok", True) for r in report["correctness"].values()) if "error" not in report["correctness"] \
        else False
    return 0 if ok and report.get("train_step", {}).get("ok") else 1


if __name__ == "__main__":
    sys.exit(main())
