"""Synthetic long SFT data for the ablation of Tables 8 and 23: question-answer pairs about a long document that is
placed whole in the context (paper finding 5: adding it, even at 1%, does not help; short UltraChat alone is best).

Paper scale (`generate_long_qa` with `HFGenerator`): an instruct model (Llama-3-8B/70B-Instruct, a local folder)
reads a random chunk of a long document and writes one question and its answer (greedy decoding, prompt in the
spirit of the paper's Tables 16/17); the SFT conversation then puts the WHOLE document in the user turn, followed by
the question, and the generated answer as the assistant turn. Several questions about one document become
follow-up turns.

Tiny scale: no model; prolong.tiny.long_qa.rule_based_long_qa asks rule-made questions about the tiny corpus's books
and builds the same conversations with `qa_conversation`.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable, Sequence

QA_PROMPT = (  # Table 16/17 in spirit: a question answerable from one chunk, then its answer
    "Given the following snippet of a long document, write one question that can be answered using only "
    "information in this snippet, and then its answer. The question should be specific enough to identify the "
    "snippet within the whole document. Do not refer to \"the snippet\" or \"the text\" in the question.\n\n"
    "Snippet:\n{chunk}\n\n"
    "Reply in exactly this format:\nQuestion: <the question>\nAnswer: <the answer>"
)
USER_TEMPLATE = "{document}\n\nAnswer the question based on the document above.\n\nQuestion: {question}"
FOLLOW_UP_TEMPLATE = "Question: {question}"
_QA_RE = re.compile(r"Question:\s*(?P<q>.+?)\s*\n+\s*Answer:\s*(?P<a>.+)", re.S)

Generator = Callable[[str], str]   # prompt (a user message) -> the model's reply


def parse_qa(reply: str) -> tuple[str, str] | None:
    """(question, answer) from a generator's reply, or None when it does not follow the format."""
    m = _QA_RE.search(reply)
    if not m:
        return None
    q, a = m.group("q").strip(), m.group("a").strip()
    return (q, a) if q and a else None


def chunks_of(text: str, chunk_chars: int) -> list[str]:
    """The document cut into chunks of about `chunk_chars` characters at paragraph (else word) boundaries."""
    out, cur = [], ""
    for para in re.split(r"(\n\n+)", text):
        if len(cur) + len(para) > chunk_chars and cur.strip():
            out.append(cur.strip())
            cur = ""
        cur += para
    if cur.strip():
        out.append(cur.strip())
    return out


def qa_conversation(document: str, qas: Sequence[tuple[str, str]]) -> dict:
    """The SFT conversation: the whole document + first question, answer, then follow-up question/answer turns."""
    msgs = []
    for k, (q, a) in enumerate(qas):
        user = USER_TEMPLATE.format(document=document, question=q) if k == 0 else FOLLOW_UP_TEMPLATE.format(question=q)
        msgs += [{"role": "user", "content": user}, {"role": "assistant", "content": a}]
    return {"messages": msgs}


@dataclass
class GenerationReport:
    n_documents: int = 0
    n_conversations: int = 0
    n_unparsed: int = 0
    "generator replies that did not follow the Question/Answer format (skipped)"


def generate_long_qa(documents: Iterable[str], generator: Generator, n_questions: int = 1, chunk_chars: int = 8000,
                     seed: int = 0, report: GenerationReport | None = None) -> list[dict]:
    """One conversation per document with `n_questions` generated QA pairs about random chunks (module doc)."""
    rng = random.Random(seed)
    report = report if report is not None else GenerationReport()
    out = []
    for doc in documents:
        report.n_documents += 1
        chunks = chunks_of(doc, chunk_chars)
        qas = []
        for chunk in rng.sample(chunks, min(n_questions, len(chunks))):
            qa = parse_qa(generator(QA_PROMPT.format(chunk=chunk)))
            if qa is None:
                report.n_unparsed += 1
                continue
            qas.append(qa)
        if qas:
            out.append(qa_conversation(doc, qas))
            report.n_conversations += 1
    return out


class HFGenerator:
    """Greedy generation with a local Hugging Face instruct model (paper: Llama-3-8B-Instruct / 70B-Instruct).

        gen = HFGenerator("/models/Meta-Llama-3-8B-Instruct", max_new_tokens=256)
        reply = gen(QA_PROMPT.format(chunk=...))
    """

    def __init__(self, model_path: str | Path, max_new_tokens: int = 256, device: str | None = None,
                 dtype: str = "auto"):
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.tokenizer = AutoTokenizer.from_pretrained(str(model_path), local_files_only=True)
        self.device = device or ("cuda" if torch.cuda.is_available() else "cpu")
        torch_dtype = (torch.bfloat16 if self.device.startswith("cuda") else torch.float32) if dtype == "auto" \
            else getattr(torch, dtype)
        self.model = AutoModelForCausalLM.from_pretrained(str(model_path), local_files_only=True,
                                                          dtype=torch_dtype).to(self.device).eval()
        self.max_new_tokens = max_new_tokens

    def __call__(self, prompt: str) -> str:
        import torch

        ids = self.tokenizer.apply_chat_template([{"role": "user", "content": prompt}], add_generation_prompt=True,
                                                 return_tensors="pt", return_dict=True)
        ids = {k: v.to(self.device) for k, v in ids.items()}
        eos = [t for t in {self.tokenizer.eos_token_id, self.tokenizer.convert_tokens_to_ids("<|eot_id|>"),
                           self.tokenizer.convert_tokens_to_ids("<|end|>")}
               if isinstance(t, int) and t != self.tokenizer.unk_token_id]
        with torch.no_grad():
            out = self.model.generate(**ids, max_new_tokens=self.max_new_tokens, do_sample=False, eos_token_id=eos,
                                      pad_token_id=self.tokenizer.pad_token_id or eos[0])
        return self.tokenizer.decode(out[0, ids["input_ids"].shape[1]:], skip_special_tokens=True)
