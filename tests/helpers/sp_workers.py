"""Multi-process checks of sequence parallelism, run in spawned gloo processes (one spawn per world size runs every
case; the tests only read the JSON of differences it writes). Each case compares the sharded run against the
single-process reference computed in the same process on the whole sequence."""

from __future__ import annotations

import json
import os
import socket
import tempfile
import time
import traceback
from pathlib import Path
from types import SimpleNamespace
from typing import Any, Callable

import numpy as np
import torch
import torch.distributed as dist
import torch.multiprocessing as mp

from prolong.model import ulysses as sp
from prolong.model.attention import cu_seqlens_from_doc_lens, document_attention
from prolong.model.build import CausalLMWithLoss, ModelConfig, build_model
from prolong.model.loss import IGNORE_INDEX
from prolong.train.parallelize import ParallelLayout, apply_activation_checkpointing, init_layout

_IMPORTED_AT = time.time()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


PRELOAD = ["torch", "transformers.models.llama.modeling_llama", "prolong.model.ulysses",
           "prolong.model.build", "prolong.train.batching"]


def run_workers(world: int) -> dict[str, Any]:
    """Start `world` gloo processes running every case; return rank 0's {case: result}.

    The processes come from a forkserver that imports torch, transformers and prolong once: a fresh
    interpreter per process ("spawn") costs ~10 s of imports each, ~40 s for 4 processes on 2 cores; plain "fork"
    of a pytest process whose OpenMP pool may be running can hang."""
    out = Path(tempfile.mkdtemp(prefix=f"sp{world}_"))
    # preloaded by package name: the forkserver does not get the test directory on its sys.path (3.11 ignores it)
    mp.get_context("forkserver").set_forkserver_preload(PRELOAD)
    mp.start_processes(_worker, args=(world, free_port(), str(out), time.time()), nprocs=world, join=True,
                       start_method="forkserver")
    return json.loads((out / "rank0.json").read_text())


def _worker(rank: int, world: int, port: int, out: str, started: float) -> None:
    os.environ.update(MASTER_ADDR="127.0.0.1", MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=world)
    results: dict[str, Any] = {"_process_start_s": time.time() - started,  # diagnostics: the forkserver preload
                               "_imported_before_start_s": started - _IMPORTED_AT}
    t0 = time.perf_counter()
    try:
        groups_full = init_layout(world)  # one SP group over every rank
        groups_dp = init_layout(2) if world == 4 else None  # dp 2 x sp 2
        cases: list[tuple[str, Callable[[], dict]]] = []
        for gqa in ((4, 2), (4, 4), (8, 2)):
            for docs in ("crossing", "short_straddling", "aligned"):
                cases.append((f"attn_h{gqa[0]}kv{gqa[1]}_{docs}",
                              lambda g=gqa, d=docs: attention_case(groups_full, *g, d, "auto")))
        cases.append(("attn_h4kv2_crossing_allgather",
                      lambda: attention_case(groups_full, 4, 2, "crossing", "all_gather")))
        for docs in ("crossing", "aligned", "padded"):
            cases.append((f"model_{docs}", lambda d=docs: model_case(groups_full, d)))
        cases.append(("model_crossing_checkpointing", lambda: model_case(groups_full, "crossing", checkpointing=True)))
        if groups_dp is not None:
            cases.append(("dp2_sp2_step", lambda: dp_sp_case(groups_dp)))
        results["_setup_s"] = time.perf_counter() - t0
        for name, fn in cases:
            t1 = time.perf_counter()
            try:
                results[name] = fn()
                results[name]["seconds"] = time.perf_counter() - t1
            except Exception:  # noqa: BLE001 - reported by the test that reads this case
                results[name] = {"error": traceback.format_exc()}
            dist.barrier()
    finally:
        sp.set_sequence_parallel_group(None)
        if rank == 0:
            (Path(out) / "rank0.json").write_text(json.dumps(results))
        dist.destroy_process_group()


def _maxdiff(a: torch.Tensor, b: torch.Tensor) -> float:
    return float((a.detach().double() - b.detach().double()).abs().max())


def doc_lens_for(kind: str, T: int, P: int) -> list[int]:
    """crossing: long documents spanning boundaries; short_straddling: every document shorter than a chunk but some
    straddle a boundary (the case the public release cut); aligned: every chunk boundary is a document boundary."""
    C = T // P
    if kind == "crossing":
        lens = [5, T // 2 - 2, 3]
        return lens + [T - sum(lens)]
    if kind == "short_straddling":
        d = max(2, C // 2 + 1)
        lens = [3] + [d] * ((T - 3) // d)
        return lens + ([T - sum(lens)] if T > sum(lens) else [])
    if kind == "aligned":
        return [C // 3, C - C // 3] * P
    raise ValueError(kind)


# ---- attention function alone -------------------------------------------------------------------------------------

def attention_case(groups: ParallelLayout, H: int, Hkv: int, docs: str, transport: str) -> dict:
    group, P, r = groups.sp_group, groups.sp_size, groups.sp_rank
    T, hs = 48, 8
    C = T // P
    g = torch.Generator().manual_seed(1)
    q = torch.randn(1, H, T, hs, generator=g)
    k = torch.randn(1, Hkv, T, hs, generator=g)
    v = torch.randn(1, Hkv, T, hs, generator=g)
    upstream = torch.randn(1, T, H, hs, generator=g)
    lens = doc_lens_for(docs, T, P)
    cu = cu_seqlens_from_doc_lens(lens)
    module = SimpleNamespace(config=SimpleNamespace(prolong_attn_backend="sdpa"))

    # reference: the whole sequence in this process
    qr, kr, vr = (x.clone().requires_grad_() for x in (q, k, v))
    ref, _ = document_attention(module, qr, kr, vr, None, cu_seq_lens_q=cu, cu_seq_lens_k=cu)
    (ref * upstream).sum().backward()

    # sharded: this rank's chunk only
    lo, hi = r * C, (r + 1) * C
    ql, kl, vl = (x[:, :, lo:hi].clone().requires_grad_() for x in (q, k, v))
    sp.COMM_STATS.reset()
    with sp.sequence_parallel(group, transport=transport):
        out, _ = sp.sp_document_attention(module, ql, kl, vl, None, cu_seq_lens_q=cu, cu_seq_lens_k=cu)
        (out * upstream[:, lo:hi]).sum().backward()
    res = {
        "out": _maxdiff(out, ref[:, lo:hi]),
        "dq": _maxdiff(ql.grad, qr.grad[:, :, lo:hi]),
        "dk": _maxdiff(kl.grad, kr.grad[:, :, lo:hi]),
        "dv": _maxdiff(vl.grad, vr.grad[:, :, lo:hi]),
        "needs_all_to_all": sp.needs_all_to_all(cu, T, P),
        "a2a_forward_calls": sp.COMM_STATS.forward_calls,
        "a2a_backward_calls": sp.COMM_STATS.backward_calls,
        "a2a_forward_bytes": sp.COMM_STATS.forward_bytes,
        "formula_bytes": sp.a2a_bytes_per_layer(T, H, Hkv, hs, P, bytes_per_elem=4)["forward"],
        "max_doc": max(lens), "chunk": C,
    }
    # what a local-only attention (the public release's skipped SP) gives on this chunk: must differ when documents
    # cross boundaries, so the equality above is not vacuous
    local_cu = torch.tensor(sp.local_cu_seqlens(cu.tolist(), lo, hi), dtype=torch.int32)
    naive, _ = document_attention(module, q[:, :, lo:hi], k[:, :, lo:hi], v[:, :, lo:hi], None,
                                  cu_seq_lens_q=local_cu, cu_seq_lens_k=local_cu)
    naive_diff = torch.tensor(_maxdiff(naive, ref[:, lo:hi]))
    dist.all_reduce(naive_diff, op=dist.ReduceOp.MAX, group=group)
    res["naive_local_diff"] = float(naive_diff)
    for key in ("out", "dq", "dk", "dv"):  # worst rank
        t = torch.tensor(res[key])
        dist.all_reduce(t, op=dist.ReduceOp.MAX, group=group)
        res[key] = float(t)
    return res


# ---- the whole model ----------------------------------------------------------------------------------------------

def tiny_model(checkpointing: bool = False) -> torch.nn.Module:
    torch.manual_seed(0)
    cfg = ModelConfig(hidden_size=64, intermediate_size=128, num_layers=2, num_heads=4, num_kv_heads=2,
                      vocab_size=97, max_position_embeddings=256, attention="sdpa", loss_block_size=16,
                      gradient_checkpointing=checkpointing)
    lm = sp.enable_sequence_parallel(build_model(cfg))  # the wrapper; each case sets its group itself
    if checkpointing:
        apply_activation_checkpointing(lm)
    lm.train()  # transformers only recomputes under gradient checkpointing in training mode (no dropout here)
    return lm


def packed_micro_batch(kind: str, P: int, seed: int = 3):
    """A micro-batch of three packed sequences built by the training loop's own builder (labels shifted, positions
    restart per document), with an SFT-style loss mask on the second sequence. crossing: documents span chunk
    boundaries; aligned: every chunk boundary is a document boundary (fast path); padded: 3 x 37 tokens, not a
    multiple of the SP degree."""
    from prolong.train.batching import make_micro_batch

    rng = np.random.default_rng(seed)
    L = 37 if kind == "padded" else 40
    T = 3 * L
    if kind == "aligned":
        C = T // P
        cuts = sorted({0, T, L, 2 * L, 13, 55, *range(C, T, C)})
        per_seq = [[b - i * L for b in cuts if i * L <= b <= (i + 1) * L] for i in range(3)]
        lens_of = [np.diff(c).tolist() for c in per_seq]
    else:
        lens_of = [[7, 21, L - 28], [3, 30, L - 33], [L]]
    seqs = []
    for i in range(3):
        mask = None if i != 1 else (rng.random(L) > 0.3)
        seqs.append(SimpleNamespace(input_ids=rng.integers(0, 97, L).astype(np.int32),
                                    doc_lens=np.array(lens_of[i], dtype=np.int32), loss_mask=mask, domain=f"d{i}"))
    return make_micro_batch(seqs, doc_masking=True)


def _grads(net: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {n: p.grad.detach().clone() for n, p in net.named_parameters() if p.grad is not None}


def model_case(groups: ParallelLayout, kind: str, checkpointing: bool = False) -> dict:
    group, P, r = groups.sp_group, groups.sp_size, groups.sp_rank
    lm = tiny_model(checkpointing)
    net = CausalLMWithLoss(lm, block_size=16)
    mb = packed_micro_batch(kind, P)

    # reference: one process, the whole micro-batch
    inputs = mb.model_inputs("cpu")
    ref_logits = lm.lm_head(net.hidden_states(inputs["input_ids"], inputs["position_ids"], inputs["cu_seq_lens"],
                                              inputs["max_length"])).detach()
    ref_sum, ref_n = net(**inputs)
    (ref_sum / ref_n).backward()
    ref_grads = _grads(net)
    net.zero_grad(set_to_none=True)

    shard = mb.shard(r, P)
    sp.COMM_STATS.reset()
    with sp.sequence_parallel(group):
        local = shard.model_inputs("cpu")
        with torch.no_grad():
            logits = lm.lm_head(net.hidden_states(local["input_ids"], local["position_ids"], local["cu_seq_lens"],
                                                  local["max_length"]))
        calls_after_logits = sp.COMM_STATS.forward_calls
        loss_sum, n_local = net(**local)
        counts = torch.tensor([float(n_local), float(shard.n_targets)])
        dist.all_reduce(counts, group=group)
        n_global = counts[0]
        (loss_sum / n_global).backward()  # inside the context: checkpointing recomputes attention here
    total = loss_sum.detach().clone()
    dist.all_reduce(total, group=group)
    grads = _grads(net)
    worst = 0.0
    for name, gr in ref_grads.items():
        g = grads[name]
        dist.all_reduce(g, group=group)  # the data-parallel reduction over the SP ranks sums their contributions
        worst = max(worst, _maxdiff(g, gr) / max(1.0, float(gr.abs().max())))
    full_logits = sp.gather_chunks(logits, group, dim=1)[:, : mb.input_ids.shape[1]]
    return {
        "logits": _maxdiff(full_logits, ref_logits),
        "loss": abs(float(total / n_global) - float(ref_sum.detach() / ref_n)),
        "n_targets": [float(n_global), float(ref_n), float(mb.n_targets)],
        "grads_rel": worst,
        "n_grads": [len(grads), len(ref_grads)],
        "needs_all_to_all": shard.needs_all_to_all,
        "a2a_forward_calls": sp.COMM_STATS.forward_calls,
        "a2a_calls_first_forward": calls_after_logits,
        "n_pad": shard.n_pad,
    }


def dp_sp_case(groups: ParallelLayout) -> dict:
    """dp 2 x sp 2 on 4 ranks: the two SP groups read different samples (sample = dp_rank), the loss is scaled by
    world / (targets of the whole step, all ranks), gradients are averaged over all 4 ranks (what DDP does): this
    must equal the single-process gradient of the mean loss over both samples."""
    lay = groups
    world = lay.world_size
    mbs = [packed_micro_batch("crossing", 2, seed=10 + i) for i in range(lay.dp_size)]
    lm = tiny_model()
    net = CausalLMWithLoss(lm, block_size=16)

    ref_sum = torch.zeros(())
    ref_n = sum(mb.n_targets for mb in mbs)
    for mb in mbs:
        s, _ = net(**mb.model_inputs("cpu"))
        (s / ref_n).backward()
        ref_sum += s.detach()
    ref_grads = _grads(net)
    net.zero_grad(set_to_none=True)

    shard = mbs[lay.dp_rank].shard(lay.sp_rank, lay.sp_size)  # the sample of this rank's group
    n_step = torch.tensor(float(shard.n_targets))
    dist.all_reduce(n_step)  # the loop's all-reduce over *all* ranks
    with sp.sequence_parallel(groups.sp_group):
        loss_sum, _ = net(**shard.model_inputs("cpu"))
        (loss_sum * world / n_step).backward()
    worst = 0.0
    for name, gr in ref_grads.items():
        g = net.get_parameter(name).grad
        dist.all_reduce(g)
        g /= world  # DDP's average
        worst = max(worst, _maxdiff(g, gr) / max(1.0, float(gr.abs().max())))
    total = loss_sum.detach().clone()
    dist.all_reduce(total)
    return {"layout": [lay.dp_rank, lay.dp_size, lay.sp_rank, lay.sp_size], "sp_ranks": lay.sp_ranks,
            "n_step": [float(n_step), float(ref_n)], "grads_rel": worst,
            "loss": abs(float(total / n_step) - float(ref_sum / ref_n))}
