"""The NLI model that scores Cite's citations, as HELMET's eval_alce.py runs it (`_run_nli_autoais`, adapted there from
Attributed-QA): a seq2seq model (HELMET: google/t5_xxl_true_nli_mixture, "TRUE") reads
"premise: {passage} hypothesis: {claim}" and the pair is entailed when its greedy output, decoded without special
tokens, is exactly "1".

As eval_alce.py:
- one pair per call, no batching (padding a batch would change nothing in exact arithmetic but can move bfloat16
  results, and the score is a string comparison of the output);
- the input is never truncated (its tokenizer call has no `truncation`; T5's relative positions take any length, so a
  long joint passage of three cited documents reaches the model whole);
- at most 10 new tokens, greedy (the model's generation config; TRUE's is greedy);
- the tokenizer loaded with `use_fast=False` as HELMET asks; transformers 5 ignores the flag and always loads its
  tokenizers-backed tokenizer (HELMET's pinned transformers loaded the sentencepiece one);
- bfloat16 on an accelerator; float32 on CPU, where bfloat16 matmuls are slow and not what HELMET ran.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

MAX_NEW_TOKENS = 10
"eval_alce.py: generate(input_ids, max_new_tokens=10)"


def nli_prompt(premise: str, hypothesis: str) -> str:
    return "premise: {} hypothesis: {}".format(premise, hypothesis)


def entailed(decoded: str) -> bool:
    """eval_alce.py: `inference = 1 if result == "1" else 0` -- "1." or " 1" are not entailment."""
    return decoded == "1"


class Seq2SeqNLI:
    """`(premise, hypothesis) -> bool` over a local seq2seq model folder (model + tokenizer)."""

    def __init__(self, path: str | Path, device: str = "auto"):
        import torch
        from transformers import AutoModelForSeq2SeqLM, AutoTokenizer

        if not Path(path).is_dir():
            raise FileNotFoundError(f"{path}: NLI model folder not found (HELMET: t5_xxl_true_nli_mixture)")
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.tokenizer: Any = AutoTokenizer.from_pretrained(str(path), use_fast=False)
        dtype = torch.bfloat16 if device != "cpu" else torch.float32
        self.model: Any = AutoModelForSeq2SeqLM.from_pretrained(str(path), dtype=dtype).to(device).eval()

    def generate(self, premise: str, hypothesis: str) -> str:
        """The model's decoded answer to one pair."""
        import torch

        ids = self.tokenizer(nli_prompt(premise, hypothesis), return_tensors="pt").input_ids.to(self.model.device)
        with torch.inference_mode():
            out = self.model.generate(ids, max_new_tokens=MAX_NEW_TOKENS, do_sample=False)
        return self.tokenizer.decode(out[0], skip_special_tokens=True)

    def __call__(self, premise: str, hypothesis: str) -> bool:
        return entailed(self.generate(premise, hypothesis))
