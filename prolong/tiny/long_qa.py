"""The tiny scale's synthetic long SFT data (the ablation of Tables 8 and 23) without a model: rule-made questions
about the tiny corpus's long books (prolong.tiny.books.make_book). Facts of the first person introduced in chapter 1
(secret number, city, pet, occupation) are asked at the end of the document, plus a "which sentence follows"
question about a random chunk. The book's own "Questions about the story" sections are removed. The conversation
shape is the paper scale's (prolong.sft.synthetic.qa_conversation).
"""

from __future__ import annotations

import random
import re
from typing import Iterable

from prolong.sft.synthetic import qa_conversation

# a cast member's introduction as prolong.tiny.books.book_intro writes it
_CH1 = re.compile(r"(?P<name>[A-Z]\w+ [A-Z]\w+) lived in (?P<city>\w+) and worked as an? (?P<job>\w+)\. "
                  r"(?P<first>\w+) had (?P<pet>[^.]+)\. The secret number of \w+ was (?P<key>\d+)\.")
_QUESTIONS = re.compile(r"Questions about the story\.\n(?:Q: .*\n)*\n?")


def book_facts(book: str) -> dict[str, str] | None:
    """The chapter-1 facts of a tiny book (prolong.tiny.corpus.make_book), or None for another text."""
    m = _CH1.search(book)
    return m.groupdict() if m else None


def _sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text) if len(s.strip()) > 20 and not s.startswith("#")]


def rule_based_long_qa(books: Iterable[str], doc_chars: int = 3000, n_questions: int = 2, seed: int = 0,
                       per_book: int = 1) -> list[dict]:
    """Long-document QA conversations from tiny books, without a model (module doc). The document is the book's
    first `doc_chars` characters (cut at a sentence end; its closing questions removed); `per_book` conversations
    per book, each with `n_questions` questions (chapter-1 facts and one next-sentence question)."""
    rng = random.Random(seed)
    out = []
    for book in books:
        facts = book_facts(book)
        if facts is None:
            continue
        body = _QUESTIONS.sub("", book)
        for _ in range(per_book):
            doc = body[:doc_chars]
            cut = doc.rfind(". ")
            doc = doc[:cut + 1] if cut > 0 else doc
            first = facts["first"]
            fact_qas = [
                (f"What is the secret number of {first}?", facts["key"]),
                (f"In which city did {first} live?", facts["city"]),
                (f"What pet did {first} have?", facts["pet"]),
                (f"What did {first} work as?", f"{first} worked as a {facts['job']}."),
            ]
            qas = rng.sample(fact_qas, max(1, n_questions - 1))
            sents = _sentences(doc[len(doc) // 3:])          # a random chunk, away from chapter 1
            if len(sents) >= 2 and n_questions > 1:
                k = rng.randrange(len(sents) - 1)
                qas.insert(rng.randrange(len(qas) + 1),
                           (f"Which sentence comes right after \"{sents[k]}\" in the document?", sents[k + 1]))
            out.append(qa_conversation(doc, qas[:n_questions]))
    return out
