"""Batched greedy decoding with chunked prefill.

The prompt goes through the model in chunks of `prefill_chunk` tokens that fill a KV cache; logits are computed only
for the last position (`logits_to_keep=1`), so a 128K prompt never materialises a (T, vocab) logits tensor nor a
full-length activation. Then one token per step for the whole batch. Prompts are left-padded; position ids come from
the cumulative attention mask so padding does not shift positions (as `generate` does). The result is identical to
`model.generate(do_sample=False)` (tested), with tokens/s and peak memory recorded.

Attention while generating, whatever the model was built with: a batch without padding (one prompt, or prompts of
one length: callers batch items of similar length) runs prolong.model.cached_attention, a chunk against the cache
with no mask tensor (transformers' SDPA path builds a (chunk, T) mask per chunk, which made chunked prefill 0.6x
`generate` on CPU); a padded batch runs transformers' "sdpa" with the padding mask. The model's own implementation
(e.g. the training's "prolong_doc") is restored afterwards.
"""

from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any, Iterator, Sequence

import torch
from prolong.eval.kv_cache import preallocated_cache
from prolong.memory import peak_memory_bytes
from prolong.model.cached_attention import CACHED_ATTN_IMPLEMENTATION, register


@dataclass
class GenerationStats:
    prompt_tokens: int = 0
    new_tokens: int = 0
    prefill_s: float = 0.0
    decode_s: float = 0.0
    peak_memory_mb: float = 0.0
    device: str = "cpu"
    extra: dict[str, Any] = field(default_factory=dict)

    def add(self, other: "GenerationStats") -> None:
        self.prompt_tokens += other.prompt_tokens
        self.new_tokens += other.new_tokens
        self.prefill_s += other.prefill_s
        self.decode_s += other.decode_s
        self.peak_memory_mb = max(self.peak_memory_mb, other.peak_memory_mb)
        self.device = other.device

    def throughput(self) -> dict[str, float]:
        total = self.prefill_s + self.decode_s
        return {
            "prompt_tokens": self.prompt_tokens, "new_tokens": self.new_tokens,
            "prefill_s": round(self.prefill_s, 4), "decode_s": round(self.decode_s, 4),
            "prefill_tokens_per_s": self.prompt_tokens / self.prefill_s if self.prefill_s else 0.0,
            "decode_tokens_per_s": self.new_tokens / self.decode_s if self.decode_s else 0.0,
            "tokens_per_s": (self.prompt_tokens + self.new_tokens) / total if total else 0.0,
        }

    def memory(self) -> dict[str, Any]:
        kind = "cuda_max_memory_allocated" if self.device.startswith("cuda") else "process_max_rss"
        return {"peak_memory_mb": round(self.peak_memory_mb, 1), "measure": kind, "device": self.device}


def peak_memory_mb(device: torch.device) -> float:
    return peak_memory_bytes(device) / 2**20


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


@contextmanager
def attention_implementation(model: Any, name: str) -> Iterator[None]:
    """The model runs `name` (a transformers attention implementation) inside the block, its own one after it."""
    before = model.config._attn_implementation
    if before == name:
        yield
        return
    model.set_attn_implementation(name)
    try:
        yield
    finally:
        model.set_attn_implementation(before)


@torch.no_grad()
def greedy_generate(model: Any, prompts: Sequence[Sequence[int]], max_new_tokens: int,
                    stop_token_ids: Sequence[int] = (), pad_token_id: int = 0,
                    prefill_chunk: int = 2048) -> tuple[list[list[int]], GenerationStats]:
    """Greedy continuation of each prompt. Returns the new tokens of each prompt (cut after the first stop token,
    which is kept, as `generate` returns it) and timing/memory stats."""
    device = next(model.parameters()).device
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    B, T = len(prompts), max(len(p) for p in prompts)
    ids = torch.full((B, T), pad_token_id, dtype=torch.long, device=device)  # (B, T) left-padded
    mask = torch.zeros((B, T), dtype=torch.long, device=device)
    for b, p in enumerate(prompts):
        ids[b, T - len(p):] = torch.tensor(list(p), dtype=torch.long)
        mask[b, T - len(p):] = 1
    positions = (mask.cumsum(-1) - 1).clamp(min=0)  # (B, T) position of each token within its own prompt
    padded = bool((mask == 0).any())  # without padding no mask at all: a chunk attends its cache (cached_attention)
    register()
    with attention_implementation(model, "sdpa" if padded else CACHED_ATTN_IMPLEMENTATION):
        gen, stats = _prefill_and_decode(model, ids, mask, positions, padded, max_new_tokens, stop_token_ids,
                                         pad_token_id, prefill_chunk)
    outputs = cut_at_stop(gen, stop_token_ids)
    stats.new_tokens = sum(len(o) for o in outputs)
    return outputs, stats


def _prefill_and_decode(model: Any, ids: torch.Tensor, mask: torch.Tensor, positions: torch.Tensor, padded: bool,
                        max_new_tokens: int, stop_token_ids: Sequence[int], pad_token_id: int, prefill_chunk: int
                        ) -> tuple[list[list[int]], GenerationStats]:
    """ids/mask/positions (B, T) left-padded -> the (B, n_new) greedy tokens (not yet cut at stop tokens), stats."""
    device = ids.device
    (B, T) = ids.shape
    cache = preallocated_cache(model, T + max_new_tokens)  # (B, Hkv, T + new, hs) per layer, the model's dtype
    stats = GenerationStats(prompt_tokens=int(mask.sum()), device=str(device))

    # ---- prefill: chunks of the prompt fill the cache; only the last chunk's last logits are needed
    _sync(device)
    t0 = time.perf_counter()
    logits = None
    for s in range(0, T, prefill_chunk):
        e = min(T, s + prefill_chunk)
        out = model(input_ids=ids[:, s:e], attention_mask=mask[:, :e] if padded else None,
                    position_ids=positions[:, s:e],
                    cache=cache, use_cache=True, logits_to_keep=1)
        logits = out.logits[:, -1, :]  # (B, V)
    _sync(device)
    stats.prefill_s = time.perf_counter() - t0

    # ---- decode: one token per step for the whole batch; finished rows keep receiving the pad token
    stop = torch.tensor(sorted(set(stop_token_ids)) or [-1], device=device)
    finished = torch.zeros(B, dtype=torch.bool, device=device)
    new_tokens: list[torch.Tensor] = []
    next_pos = positions[:, -1:] + 1  # (B, 1)
    t0 = time.perf_counter()
    for step in range(max_new_tokens):
        nxt = logits.argmax(-1)  # (B,)
        nxt = torch.where(finished, torch.full_like(nxt, pad_token_id), nxt)
        new_tokens.append(nxt)
        finished |= torch.isin(nxt, stop)
        if bool(finished.all()) or step == max_new_tokens - 1:
            break
        mask = torch.cat([mask, torch.ones((B, 1), dtype=mask.dtype, device=device)], dim=1)
        out = model(input_ids=nxt[:, None], attention_mask=mask if padded else None, position_ids=next_pos,
                    cache=cache,
                    use_cache=True, logits_to_keep=1)
        logits = out.logits[:, -1, :]
        next_pos = next_pos + 1
    _sync(device)
    stats.decode_s = time.perf_counter() - t0
    stats.peak_memory_mb = peak_memory_mb(device)

    gen = torch.stack(new_tokens, dim=1).tolist() if new_tokens else [[] for _ in range(B)]  # (B, n_new)
    return gen, stats


def cut_at_stop(rows: list[list[int]], stop_token_ids: Sequence[int]) -> list[list[int]]:
    """Each row up to and including its first stop token (the rest was generated after the row had finished)."""
    stop_set, outputs = set(stop_token_ids), []
    for row in rows:
        cut = []
        for t in row:
            cut.append(t)
            if t in stop_set:
                break
        outputs.append(cut)
    return outputs


@torch.no_grad()
def plain_generate(model: Any, prompts: Sequence[Sequence[int]], max_new_tokens: int,
                   stop_token_ids: Sequence[int] = (), pad_token_id: int = 0) -> tuple[list[list[int]], GenerationStats]:
    """The reference: HF `generate` (greedy) on the left-padded batch, same outputs and stats format."""
    device = next(model.parameters()).device
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats(device)
    B, T = len(prompts), max(len(p) for p in prompts)
    ids = torch.full((B, T), pad_token_id, dtype=torch.long, device=device)
    mask = torch.zeros((B, T), dtype=torch.long, device=device)
    for b, p in enumerate(prompts):
        ids[b, T - len(p):] = torch.tensor(list(p), dtype=torch.long)
        mask[b, T - len(p):] = 1
    _sync(device)
    t0 = time.perf_counter()
    out = model.generate(input_ids=ids, attention_mask=mask, do_sample=False, max_new_tokens=max_new_tokens,
                         min_new_tokens=0, eos_token_id=list(stop_token_ids) or None, pad_token_id=pad_token_id,
                         num_beams=1)
    _sync(device)
    elapsed = time.perf_counter() - t0
    outputs = cut_at_stop(out[:, T:].tolist(), stop_token_ids)
    stats = GenerationStats(prompt_tokens=int(mask.sum()), new_tokens=sum(len(o) for o in outputs),
                            prefill_s=0.0, decode_s=elapsed, peak_memory_mb=peak_memory_mb(device), device=str(device))
    return outputs, stats
