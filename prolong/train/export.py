"""The final model of a stage in a form every tool reads: transformers 4.44+ and 5, vLLM, HELMET (which pins 4.x),
lm-eval.

transformers 5 writes RoPE settings only as `rope_parameters` ({rope_type, rope_theta}); 4.x reads the top-level
`rope_theta` and, finding none, silently uses 10000. It saves the tokenizer class as `TokenizersBackend` (4.x has no
such class), the extra special tokens as a list under `extra_special_tokens` (4.x wants `additional_special_tokens`)
and the chat template only in chat_template.jinja (before 4.49 read from tokenizer_config.json only). `make_portable`
rewrites the saved files so both major versions load the same model, theta, special tokens and template:

    config.json             + rope_theta (top level), rope_scaling (null for the default rope type, else the
                            rest of rope_parameters), torch_dtype (beside dtype)
    tokenizer_config.json   tokenizer_class PreTrainedTokenizerFast (a name both versions resolve),
                            additional_special_tokens, chat_template
    tokenizer.json          BPE merges as "a b" strings (tokenizers < 0.20, which transformers 4.44 pins, reads
                            only that form; every tokenizers version reads it) unless a merged token holds a space

Weights: bf16 when the stage trained in bf16 (the paper scale: about 16 GB per 8B model, not 32 GB in fp32).
tests/train/test_export.py loads a saved model with transformers 5 here and with 4.x in a throw-away environment.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch

from prolong.io import atomic_write_json, atomic_write_text

PORTABLE_TOKENIZER_CLASS = "PreTrainedTokenizerFast"


def save_dtype(precision: str, device_type: str) -> torch.dtype:
    """The dtype of the saved weights: bf16 when the stage trains in bf16 (explicitly, or `auto` on CUDA)."""
    bf16 = precision == "bf16" or (precision == "auto" and device_type == "cuda")
    return torch.bfloat16 if bf16 else torch.float32


def make_portable(folder: str | Path, dtype: torch.dtype | None = None) -> None:
    """Rewrite a saved model folder's config.json and tokenizer_config.json (module docstring) in place; `dtype`:
    the dtype the weights were saved in (recorded as dtype and torch_dtype)."""
    folder = Path(folder)
    cfg_path = folder / "config.json"
    cfg = json.loads(cfg_path.read_text())
    rope = dict(cfg.get("rope_parameters") or {})
    if "rope_theta" in rope:
        cfg["rope_theta"] = float(rope["rope_theta"])
        rest = {k: v for k, v in rope.items() if k != "rope_theta"}
        cfg["rope_scaling"] = None if rest.get("rope_type", "default") == "default" else rest
    elif "rope_theta" not in cfg:
        raise ValueError(f"{cfg_path}: no rope_parameters.rope_theta and no rope_theta (cannot tell the theta)")
    if dtype is not None:
        cfg["dtype"] = str(dtype).removeprefix("torch.")
    if "dtype" in cfg:
        cfg["torch_dtype"] = cfg["dtype"]
    atomic_write_json(cfg_path, cfg)

    _legacy_merges(folder / "tokenizer.json")
    tok_path = folder / "tokenizer_config.json"
    if not tok_path.is_file():
        return
    tok = json.loads(tok_path.read_text())
    tok["tokenizer_class"] = PORTABLE_TOKENIZER_CLASS
    extra = tok.pop("extra_special_tokens", None)
    if isinstance(extra, list):
        seen = list(tok.get("additional_special_tokens") or [])
        tok["additional_special_tokens"] = seen + [t for t in extra if t not in seen]
    elif isinstance(extra, dict):          # named extras: kept (4.46+ reads the mapping)
        tok["extra_special_tokens"] = extra
    template = folder / "chat_template.jinja"
    if template.is_file() and "chat_template" not in tok:
        tok["chat_template"] = template.read_text()
    tok.pop("backend", None)               # a transformers-5 key 4.x passes on to the tokenizer's __init__
    atomic_write_json(tok_path, tok)


def _legacy_merges(path: Path) -> None:
    """BPE merges [["a", "b"], ...] written as ["a b", ...] (module docstring); other models are left as they are."""
    if not path.is_file():
        return
    obj = json.loads(path.read_text(encoding="utf-8"))
    model = obj.get("model") or {}
    merges = model.get("merges")
    if model.get("type") != "BPE" or not merges or not isinstance(merges[0], list):
        return
    if any(" " in a or " " in b for a, b in merges):
        return                              # only the pair form can hold these; tokenizers >= 0.20 needed
    model["merges"] = [f"{a} {b}" for a, b in merges]
    atomic_write_text(path, json.dumps(obj, ensure_ascii=False, indent=2) + "\n")
