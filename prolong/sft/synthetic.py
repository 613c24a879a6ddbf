"""Synthetic long SFT data for the ablation of Tables 8 and 23: question-answer pairs about a long document that is
placed whole in the context (paper finding 5: adding it, even at 1%, does not help; short UltraChat alone is best).

Paper scale (`generate_long_qa` with `HFGenerator`): an instruct model (Llama-3-8B/70B-Instruct, a local folder)
reads a random chunk of a long document and writes one question and its answer (greedy decoding, prompt in the
spirit of the paper's Tables 16/17); the SFT conversation then puts the WHOLE document in the user turn, followed by
the question, and the generated answer as the assistant turn. Several questions about one document become
follow-up turns.

Tiny scale (`rule_based_long_qa`): no model; questions come from rules over the toy corpus's long "books"
(prolong.data.toy_corpus.make_book): facts introduced in chapter 1 (secret number, city, pet, occupation, birth
year) are asked at the end of the document, plus a "which sentence follows" question about a random chunk.
The book's own closing "Questions about the story" section is removed, so the answers appear only far earlier.
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


# ---- tiny scale: rules over the toy books ----------------------------------------------------------------------------

_CH1 = re.compile(r"(?P<name>[A-Z]\w+ [A-Z]\w+) was born in (?P<born>\d{4}) and grew up in (?P<city>\w+), a city of "
                  r"(?P<country>\w+)\. (?P<first>\w+) worked as an? (?P<job>\w+) and kept (?P<pet>[^.]+)\. One "
                  r"evening (?P<friend>[A-Z]\w+ [A-Z]\w+) told \w+ a secret: the number (?P<key>\d+) would open")


def book_facts(book: str) -> dict[str, str] | None:
    """The chapter-1 facts of a toy book (prolong.data.toy_corpus.make_book), or None for another text."""
    m = _CH1.search(book)
    return m.groupdict() if m else None


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.strip()) > 20 and not s.startswith("#")]


def rule_based_long_qa(books: Iterable[str], doc_chars: int = 3000, n_questions: int = 2, seed: int = 0,
                       per_book: int = 1) -> list[dict]:
    """Long-document QA conversations from toy books, without a model (module doc). The document is the book's
    first `doc_chars` characters (cut at a sentence end; its closing questions removed); `per_book` conversations
    per book, each with `n_questions` questions (chapter-1 facts and one next-sentence question)."""
    rng = random.Random(seed)
    out = []
    for book in books:
        facts = book_facts(book)
        if facts is None:
            continue
        body = book.split("Questions about the story.")[0]
        for _ in range(per_book):
            doc = body[:doc_chars]
            cut = doc.rfind(". ")
            doc = doc[:cut + 1] if cut > 0 else doc
            first = facts["first"]
            fact_qas = [
                ("What number opens the old chest?", facts["key"]),
                (f"In which city did {first} grow up?", facts["city"]),
                (f"What pet did {first} keep?", facts["pet"]),
                (f"What did {first} work as?", f"{first} worked as a {facts['job']}."),
                (f"In which year was {facts['name']} born?", facts["born"]),
                (f"Who told {first} the secret number?", facts["friend"]),
            ]
            qas = rng.sample(fact_qas, max(1, n_questions - 1))
            sents = _sentences(doc[len(doc) // 3:])          # a random chunk, away from chapter 1
            if len(sents) >= 2 and n_questions > 1:
                k = rng.randrange(len(sents) - 1)
                qas.insert(rng.randrange(len(qas) + 1),
                           (f"Which sentence comes right after \"{sents[k]}\" in the document?", sents[k + 1]))
            out.append(qa_conversation(doc, qas[:n_questions]))
    return out
