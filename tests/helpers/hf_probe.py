"""Loads a saved model folder with whatever transformers is importable and prints what a user of that version gets,
as one JSON line: `python tests/helpers/hf_probe.py <folder>` (run by tests/train/test_export.py with transformers
4.x from a throw-away folder first on PYTHONPATH, and with the project's transformers 5)."""

import json
import sys

import torch
import transformers
from transformers import AutoConfig, AutoModelForCausalLM, AutoTokenizer

TEXT = "def f(x):\n    return x + 1"
CHAT = [{"role": "user", "content": "What number?"}, {"role": "assistant", "content": "4821"}]


def probe(folder: str) -> dict:
    cfg = AutoConfig.from_pretrained(folder)
    theta = getattr(cfg, "rope_parameters", None) or {}
    theta = theta.get("rope_theta") if isinstance(theta, dict) and "rope_theta" in theta else cfg.rope_theta
    tok = AutoTokenizer.from_pretrained(folder)
    kw = {"dtype": torch.float32} if transformers.__version__ >= "5" else {"torch_dtype": torch.float32}
    model = AutoModelForCausalLM.from_pretrained(folder, attn_implementation="eager", **kw)
    ids = torch.tensor([tok(TEXT).input_ids * 8])                  # (1, T): long enough for theta to matter
    positions = torch.arange(ids.shape[1])[None] + 150             # far positions: a wrong theta shows
    with torch.no_grad():
        logits = model(input_ids=ids, position_ids=positions).logits[0, -8:, :16]
    stored = next(iter(__import__("safetensors.torch", fromlist=["load_file"]).load_file(
        f"{folder}/model.safetensors").values())).dtype
    return {"version": transformers.__version__, "theta": float(theta), "tokenizer_class": type(tok).__name__,
            "ids": tok(TEXT).input_ids, "special": sorted(tok.all_special_tokens),
            "chat": tok.apply_chat_template(CHAT, tokenize=False), "logits": logits.tolist(),
            "stored_dtype": str(stored)}


if __name__ == "__main__":
    print(json.dumps(probe(sys.argv[1])))
