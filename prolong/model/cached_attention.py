"""Causal attention of a chunk of queries against a KV cache: chunked prefill and decoding of unpadded prompts.

Chunk [s, e) of a prompt attends to every cached key before it (keys [0, s), no mask at all) and causally to its own
keys [s, e). transformers' "sdpa" path builds a (e - s, e) mask for every chunk and calls SDPA with it; on CPU the
mask construction plus the masked kernel cost about twice the attention itself (profile: benchmarks/bench_generation.py).
Here the two parts are two fused SDPA calls without a mask tensor, merged exactly by their log-sum-exps:

    out = (o_past * exp(lse_past - m) + o_self * exp(lse_self - m)) / (exp(lse_past - m) + exp(lse_self - m))

On CUDA the same attention is one SDPA call with torch's lower-right causal bias (a flash kernel, no mask tensor).
A chunk without cached keys is plain causal attention; one decoded token attends to every key.

Registered as "prolong_cached" in transformers' attention interface, without a mask function, so transformers
passes no attention mask: the caller (prolong.eval.generate) uses it only for rows without padding.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from transformers import AttentionInterface

CACHED_ATTN_IMPLEMENTATION = "prolong_cached"


def _merge(o1: torch.Tensor, lse1: torch.Tensor, o2: torch.Tensor, lse2: torch.Tensor) -> torch.Tensor:
    """Two softmax-attention results over disjoint key sets -> the result over their union.
    o (B, H, q, hs), lse (B, H, q) natural-log sum of exp(scores)."""
    m = torch.maximum(lse1, lse2)
    w1, w2 = (lse1 - m).exp().unsqueeze(-1), (lse2 - m).exp().unsqueeze(-1)  # (B, H, q, 1)
    return (o1.float() * w1 + o2.float() * w2) / (w1 + w2)


def _grouped(q: torch.Tensor, n_kv: int) -> torch.Tensor:
    """(B, H, q, hs) -> (B, Hkv, n_rep * q, hs): the queries of the heads sharing a kv head, side by side. Exact
    wherever no mask tells the query positions apart (every query sees every key), and no kv head is copied."""
    B, H, n_q, hs = q.shape
    return q.reshape(B, n_kv, (H // n_kv) * n_q, hs)


def _ungrouped(x: torch.Tensor, n_heads: int) -> torch.Tensor:
    """(B, Hkv, n_rep * q, ...) -> (B, H, q, ...), the inverse of `_grouped`."""
    return x.reshape(x.shape[0], n_heads, x.shape[2] * x.shape[1] // n_heads, *x.shape[3:])


def chunk_causal_attention(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, scale: float | None = None
                           ) -> torch.Tensor:
    """q (B, H, q, hs) the last q positions; k/v (B, Hkv, S, hs) all S >= q positions so far -> (B, H, q, hs), query
    i attending keys [0, S - q + i] (lower-right causal). H a multiple of Hkv (grouped-query attention)."""
    H, n_q, n_kv, n_k = q.shape[1], q.shape[2], k.shape[1], k.shape[2]
    past = n_k - n_q
    if past > 0 and n_q == 1:  # one decoded token sees every key
        return _ungrouped(F.scaled_dot_product_attention(_grouped(q, n_kv), k, v, scale=scale), H)
    if past > 0 and q.device.type != "cpu":
        from torch.nn.attention.bias import causal_lower_right

        return F.scaled_dot_product_attention(q, k, v, attn_mask=causal_lower_right(n_q, n_k), scale=scale,
                                              enable_gqa=H != n_kv)
    k_self, v_self = k[:, :, past:], v[:, :, past:]
    if H != n_kv:  # the causal part tells queries apart: its (chunk-long) kv heads are repeated
        k_self, v_self = (x.repeat_interleave(H // n_kv, dim=1) for x in (k_self, v_self))
    if past == 0:
        return F.scaled_dot_product_attention(q, k_self, v_self, is_causal=True, scale=scale)
    flash = torch.ops.aten._scaled_dot_product_flash_attention_for_cpu  # returns (out, logsumexp)
    o_past, lse_past = flash(_grouped(q, n_kv), k[:, :, :past], v[:, :, :past], 0.0, False, scale=scale)[:2]
    o_self, lse_self = flash(q, k_self, v_self, 0.0, True, scale=scale)[:2]
    return _merge(_ungrouped(o_past, H), _ungrouped(lse_past, H), o_self, lse_self).to(q.dtype)


def cached_attention(module: torch.nn.Module, query: torch.Tensor, key: torch.Tensor, value: torch.Tensor,
                     attention_mask: torch.Tensor | None, dropout: float = 0.0, scaling: float | None = None,
                     **kwargs: Any) -> tuple[torch.Tensor, None]:
    """transformers' attention signature: query (B, H, q, hs), key/value (B, Hkv, S, hs) with the cache ->
    ((B, q, H, hs), None)."""
    if attention_mask is not None:
        raise ValueError("prolong_cached attention is for unpadded rows: it takes no attention mask")
    if dropout:
        raise ValueError("prolong_cached attention has no dropout")
    out = chunk_causal_attention(query, key, value, scaling)
    return out.transpose(1, 2).contiguous(), None


def register() -> str:
    """Register `cached_attention` as "prolong_cached" (idempotent)."""
    AttentionInterface.register(CACHED_ATTN_IMPLEMENTATION, cached_attention)
    return CACHED_ATTN_IMPLEMENTATION


register()
