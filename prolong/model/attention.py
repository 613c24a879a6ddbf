"""Document-masked attention for packed sequences, plugged into transformers' attention interface.

A packed training sequence holds several documents (ProLong's "document masks": a token never attends to a token of
another document). The model forward receives the document boundaries as `cu_seq_lens_q` / `cu_seq_lens_k`
(cumulative document lengths, int32, shape (n_docs + 1,), the same kwargs transformers' own flash-attention path
uses) plus `max_length_q` / `max_length_k` (python ints); transformers carries them through `**kwargs` from
`LlamaModel.forward` down to every attention call. Position ids restart at 0 in every document (the caller builds
them, see `position_ids_from_doc_lens`).

Three interchangeable kernels, picked per call from `config.prolong_attn_backend` ("auto" picks the first that fits):
  flash  flash-attn `flash_attn_varlen_func` (CUDA, fp16/bf16, flash-attn installed)
  flex   PyTorch FlexAttention with a document-causal block mask (CUDA; FlexAttention has no backward on CPU)
  sdpa   one `scaled_dot_product_attention(is_causal=True)` call per document slice: no (L, L) mask is ever built,
         so memory is linear in the sequence length (the CPU path, and the reference for the other two)

The packed batch is one row: (1, H, T, hs) with T the total tokens of the micro-batch (several sequences of a
micro-batch are concatenated, which is exact because attention never crosses a document). Without cu_seq_lens the
function is plain causal attention over the row (the "no document masks" ablation passes one document per sequence).

Sequence parallelism (a later module) wraps `document_attention`; keep its signature that of transformers'
attention functions: (module, query, key, value, attention_mask, **kwargs) -> (attn_output (B, T, H, hs), None).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from transformers import AttentionInterface

ATTN_IMPLEMENTATION = "prolong_doc"
BACKENDS = ("auto", "flash", "flex", "sdpa")


# ---- document boundaries -----------------------------------------------------------------------------------------

def cu_seqlens_from_doc_lens(doc_lens: np.ndarray | list[int], device: torch.device | str = "cpu") -> torch.Tensor:
    """[3, 2, 4] -> tensor([0, 3, 5, 9], int32): the start offset of every document plus the total."""
    lens = np.asarray(doc_lens, dtype=np.int64)
    if lens.ndim != 1 or (lens <= 0).any():
        raise ValueError(f"document lengths must be a 1-D array of positive ints, got {lens!r}")
    cu = np.concatenate([[0], np.cumsum(lens)])
    return torch.as_tensor(cu, dtype=torch.int32, device=device)


def position_ids_from_doc_lens(doc_lens: np.ndarray | list[int]) -> np.ndarray:
    """[3, 2] -> [0, 1, 2, 0, 1]: positions restart at 0 at the start of every document."""
    lens = np.asarray(doc_lens, dtype=np.int64)
    starts = np.repeat(np.cumsum(lens) - lens, lens)
    return np.arange(int(lens.sum()), dtype=np.int64) - starts


# ---- kernels -----------------------------------------------------------------------------------------------------

def _sdpa_per_document(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu: list[int], scale: float | None
                       ) -> torch.Tensor:
    """q (1, H, T, hs), k/v (1, Hkv, T, hs) -> (1, H, T, hs); one causal SDPA call per document slice."""
    n_rep = q.shape[1] // k.shape[1]
    if n_rep > 1:  # GQA: expand kv heads (CPU SDPA's fused kernel does not take enable_gqa)
        k = k.repeat_interleave(n_rep, dim=1)
        v = v.repeat_interleave(n_rep, dim=1)
    outs = [F.scaled_dot_product_attention(q[:, :, s:e], k[:, :, s:e], v[:, :, s:e], is_causal=True, scale=scale)
            for s, e in zip(cu[:-1], cu[1:])]
    return outs[0] if len(outs) == 1 else torch.cat(outs, dim=2)


_flex_cache: dict[str, Any] = {}


def _flex_document_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu_seqlens: torch.Tensor,
                             scale: float | None) -> torch.Tensor:
    """FlexAttention with a document-causal block mask; the mask is built once per micro-batch (all layers share the
    same `cu_seqlens` tensor object) and the kernel is compiled once."""
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    if "kernel" not in _flex_cache:
        _flex_cache["kernel"] = torch.compile(flex_attention, dynamic=False)
    if _flex_cache.get("cu") is not cu_seqlens:
        T = q.shape[2]
        lens = (cu_seqlens[1:] - cu_seqlens[:-1]).long()
        doc_id = torch.repeat_interleave(torch.arange(len(lens), device=q.device), lens)  # (T,)

        def document_causal(b, h, q_idx, kv_idx):
            return (doc_id[q_idx] == doc_id[kv_idx]) & (q_idx >= kv_idx)

        _flex_cache["mask"] = create_block_mask(document_causal, B=None, H=None, Q_LEN=T, KV_LEN=T, device=q.device)
        _flex_cache["cu"] = cu_seqlens
    return _flex_cache["kernel"](q, k, v, block_mask=_flex_cache["mask"], scale=scale,
                                 enable_gqa=q.shape[1] != k.shape[1])


def _flash_varlen(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, cu_seqlens: torch.Tensor, max_len: int,
                  scale: float | None) -> torch.Tensor:
    """flash-attn varlen: takes (T, H, hs) and returns (T, H, hs); GQA is native."""
    from flash_attn import flash_attn_varlen_func

    q, k, v = (x[0].transpose(0, 1) for x in (q, k, v))  # (T, H, hs)
    out = flash_attn_varlen_func(q, k, v, cu_seqlens, cu_seqlens, max_len, max_len, softmax_scale=scale, causal=True)
    return out.unsqueeze(0)  # (1, T, H, hs)


def flash_attn_available() -> bool:
    try:
        import flash_attn  # noqa: F401
    except ImportError:
        return False
    return True


def pick_backend(requested: str, device: torch.device, dtype: torch.dtype) -> str:
    """Resolve "auto" to a kernel for this device and dtype; an impossible explicit choice is an error."""
    if requested not in BACKENDS:
        raise ValueError(f"unknown attention backend {requested!r}; choose one of {BACKENDS}")
    if requested == "auto":
        if device.type != "cuda":  # fastest correct on CPU: benchmarks/bench_attention.py (vs a dense mask,
            return "sdpa"          # block-sparse SDPA tiles and compiled FlexAttention, 2K-16K, 1-64 documents)
        if flash_attn_available() and dtype in (torch.float16, torch.bfloat16):
            return "flash"
        return "flex"
    if requested in ("flash", "flex") and device.type != "cuda":
        raise ValueError(f"attention backend {requested!r} needs CUDA (this tensor is on {device}); use 'sdpa'")
    if requested == "flash" and not flash_attn_available():
        raise ValueError("attention backend 'flash' needs the flash-attn package; install it or use 'flex'")
    return requested


# ---- the attention function ----------------------------------------------------------------------------------------

def document_attention(
    module: torch.nn.Module,
    query: torch.Tensor,
    key: torch.Tensor,
    value: torch.Tensor,
    attention_mask: torch.Tensor | None,
    dropout: float = 0.0,
    scaling: float | None = None,
    cu_seq_lens_q: torch.Tensor | None = None,
    cu_seq_lens_k: torch.Tensor | None = None,
    max_length_q: int | None = None,
    max_length_k: int | None = None,
    **kwargs: Any,
) -> tuple[torch.Tensor, None]:
    """query (B, H, T, hs), key/value (B, Hkv, T, hs) -> ((B, T, H, hs), None). Causal within each document."""
    if attention_mask is not None:
        raise ValueError("prolong_doc attention takes document boundaries (cu_seq_lens_q), not an attention mask")
    if dropout:
        raise ValueError("prolong_doc attention has no dropout")
    T = query.shape[2]
    if cu_seq_lens_q is None:  # one document per row: plain causal attention
        cu_seq_lens_q = torch.tensor([0, T], dtype=torch.int32, device=query.device)
        max_length_q = T
        if query.shape[0] != 1:
            out = F.scaled_dot_product_attention(query, key, value, is_causal=True, scale=scaling,
                                                 enable_gqa=query.shape[1] != key.shape[1])
            return out.transpose(1, 2).contiguous(), None
    if cu_seq_lens_k is not None and cu_seq_lens_k is not cu_seq_lens_q and not torch.equal(cu_seq_lens_k,
                                                                                            cu_seq_lens_q):
        raise ValueError("prolong_doc attention is self-attention: cu_seq_lens_k must equal cu_seq_lens_q")
    if query.shape[0] != 1:
        raise ValueError(f"packed document attention takes one row (batch 1), got batch {query.shape[0]}; "
                         "concatenate the sequences of a micro-batch into one row")

    backend = pick_backend(getattr(module.config, "prolong_attn_backend", "auto"), query.device, query.dtype)
    if backend == "flash":
        max_len = max_length_q if max_length_q is not None else int((cu_seq_lens_q[1:] - cu_seq_lens_q[:-1]).max())
        return _flash_varlen(query, key, value, cu_seq_lens_q, max_len, scaling), None
    if backend == "flex":
        out = _flex_document_attention(query, key, value, cu_seq_lens_q, scaling)
    else:
        out = _sdpa_per_document(query, key, value, cu_seq_lens_q.tolist(), scaling)
    return out.transpose(1, 2).contiguous(), None  # (1, T, H, hs)


def register() -> str:
    """Register `document_attention` as "prolong_doc" in transformers' global attention interface (idempotent).
    Models built with `attn_implementation="prolong_doc"` get no mask from transformers (none is registered for it)."""
    AttentionInterface.register(ATTN_IMPLEMENTATION, document_attention)
    return ATTN_IMPLEMENTATION


register()
