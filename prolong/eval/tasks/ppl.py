"""Perplexity on the last part of long documents (Figure 1: last 32K tokens of 64K-token PG19 books).

Each document is cut to `doc_tokens` (shorter ones are skipped); it runs through the model in chunks with a KV
cache, and only the positions whose next token lies in the last `tail_tokens` get logits (per chunk, so the
(T, vocab) tensor never exists). PPL = exp(total NLL / total tail tokens) over all documents.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterable

import torch
import torch.nn.functional as F
from transformers import DynamicCache

from prolong.eval.categories import PPL
from prolong.eval.tasks.registry import WholeModelResult, register_whole_model
from prolong.io import iter_jsonl

if TYPE_CHECKING:
    from prolong.eval.config import EvalConfig


@torch.no_grad()
def tail_nll(model: Any, ids: list[int], tail_tokens: int, chunk: int = 4096) -> tuple[float, int]:
    """Sum of NLL of the last `tail_tokens` tokens of `ids` given everything before, and their count."""
    device = next(model.parameters()).device
    x = torch.tensor(ids, dtype=torch.long, device=device)[None]  # (1, T)
    T = x.shape[1]
    first_target = T - tail_tokens  # index of the first scored token (>= 1)
    cache = DynamicCache(config=model.config)
    total, count = 0.0, 0
    for s in range(0, T - 1, chunk):
        e = min(T - 1, s + chunk)  # inputs s..e-1 predict targets s+1..e
        # keep logits only for inputs whose target index >= first_target
        keep_from = max(s, first_target - 1)
        n_keep = e - keep_from if e > keep_from else 0
        out = model(input_ids=x[:, s:e], cache=cache, use_cache=True,
                    position_ids=torch.arange(s, e, device=device)[None], logits_to_keep=max(n_keep, 1))
        if n_keep > 0:
            logits = out.logits[0, -n_keep:].float()  # (n_keep, V)
            targets = x[0, keep_from + 1: e + 1]
            total += F.cross_entropy(logits, targets, reduction="sum").item()
            count += n_keep
    return total, count


def perplexity(model: Any, tokenizer: Any, texts: Iterable[str], doc_tokens: int, tail_tokens: int,
               max_docs: int = 100, chunk: int = 4096) -> dict[str, float]:
    if tail_tokens >= doc_tokens:
        raise ValueError(f"tail_tokens ({tail_tokens}) must be smaller than doc_tokens ({doc_tokens})")
    total, count, docs = 0.0, 0, 0
    for text in texts:
        ids = tokenizer(text, add_special_tokens=True)["input_ids"]
        if len(ids) < doc_tokens:
            continue
        nll, n = tail_nll(model, ids[:doc_tokens], tail_tokens, chunk)
        total, count, docs = total + nll, count + n, docs + 1
        if docs >= max_docs:
            break
    if docs == 0:
        raise ValueError(f"no document has {doc_tokens} tokens")
    return {"ppl": math.exp(total / count), "nll": total / count, "num_docs": docs, "tokens": count}


@register_whole_model({"ppl": PPL}, PPL)
def evaluate_ppl(name: str, model: Any, tokenizer: Any, cfg: EvalConfig) -> WholeModelResult:
    """PPL over `cfg.ppl.file` (under the data root unless absolute), logged under the document length."""
    p = Path(cfg.ppl.file)
    p = p if p.is_absolute() else cfg.data_root() / p
    texts = (r["text"] for r in iter_jsonl(p))
    res = perplexity(model, tokenizer, texts, cfg.ppl.doc_tokens, cfg.ppl.tail_tokens, cfg.ppl.max_docs,
                     cfg.ppl.chunk)
    out = {"args": cfg.ppl.to_dict(), "data": [], "averaged_metrics": res, "throughput": {}, "memory": {}}
    return WholeModelResult(out, cfg.ppl.doc_tokens, res["ppl"])
