"""Tiny-scale SFT data, generated offline in seconds (`build_tiny_sft_data`, cached under <data>/tiny/sft/):

    instructions.jsonl     short chat examples ({"task", "messages"}) of every task format the tiny evaluation
                           uses (prolong.eval.tiny_tasks.tiny_instructions: recall, RAG, re-rank, ICL, QA, summ)
                           plus general chat about the toy world (prolong.data.toy_world): fact questions, follow-ups,
                           lists of facts, some with a system turn. The UltraChat of the tiny scale: short only.
    synthetic_long.jsonl   the ablation's synthetic long SFT data (prolong.sft.synthetic.rule_based_long_qa over the
                           toy corpus's books)
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path

from prolong import paths
from prolong.io import atomic_write_json, atomic_write_text

SYSTEM_PROMPTS = ["You are a helpful assistant.", "Answer briefly and precisely.",
                  "You are a knowledgeable guide to the world's cities and people."]


@dataclass(frozen=True)
class TinySFTSpec:
    seed: int = 0
    n_per_task: int = 20
    "tiny_instructions per task format"
    n_world_chat: int = 600
    "general chat conversations about the toy world"
    synthetic_doc_chars: int = 3800
    "document length of the synthetic long QA (about 900 tiny tokens: fits a 1K tiny SFT sequence)"
    synthetic_per_book: int = 3
    version: int = 1


def toy_world_chat(seed: int = 0, n: int = 600) -> list[dict]:
    """General chat-style instructions about the toy world ({"task": "world_chat", "messages": [...]})."""
    from prolong.data.toy_world import fact_question, fact_sentence, make_world

    world = make_world(seed)
    facts = world.facts()
    by_subject: dict[str, list] = {}
    for f in facts:
        by_subject.setdefault(f.subject, []).append(f)
    subjects = sorted(by_subject)
    rng = random.Random(f"tiny-sft-chat-{seed}")
    out = []
    for _ in range(n):
        kind = rng.random()
        msgs: list[dict[str, str]] = []
        if rng.random() < 0.3:
            msgs.append({"role": "system", "content": rng.choice(SYSTEM_PROMPTS)})
        if kind < 0.5:        # one or two fact questions (a follow-up turn)
            for f in rng.sample(facts, rng.choice([1, 1, 2])):
                msgs += [{"role": "user", "content": fact_question(f)},
                         {"role": "assistant", "content": fact_sentence(f)}]
        elif kind < 0.8:      # everything about one subject
            s = rng.choice(subjects)
            msgs += [{"role": "user", "content": f"Tell me what you know about {s}."},
                     {"role": "assistant", "content": " ".join(fact_sentence(f) for f in by_subject[s])}]
        else:                 # a short answer, then a full sentence on request
            f = rng.choice(facts)
            msgs += [{"role": "user", "content": f"{fact_question(f)} Answer with a few words."},
                     {"role": "assistant", "content": f.value},
                     {"role": "user", "content": "Please answer in a full sentence."},
                     {"role": "assistant", "content": fact_sentence(f)}]
        out.append({"task": "world_chat", "messages": msgs})
    return out


def tiny_sft_dir() -> Path:
    return paths.data_dir() / "tiny" / "sft"


def _jsonl(rows: list[dict]) -> str:
    return "".join(json.dumps(r) + "\n" for r in rows)


def build_tiny_sft_data(out_dir: str | Path | None = None, spec: TinySFTSpec = TinySFTSpec(),
                        force: bool = False) -> Path:
    """Write the tiny SFT files (module doc) to `out_dir` (default <data>/tiny/sft); skipped when present with the
    same spec. Builds the toy corpus first if needed (for the books)."""
    from prolong.eval.tiny_tasks import tiny_instructions
    from prolong.sft.synthetic import rule_based_long_qa

    out = Path(out_dir) if out_dir is not None else tiny_sft_dir()
    manifest = out / "manifest.json"
    if not force and manifest.is_file() and json.loads(manifest.read_text()) == asdict(spec):
        return out
    books_path = paths.data_dir() / "tiny" / "corpus" / "books.jsonl"
    if not books_path.is_file():
        from prolong.data import build_tiny_data

        build_tiny_data()
    rows = tiny_instructions(spec.seed, spec.n_per_task) + toy_world_chat(spec.seed, spec.n_world_chat)
    random.Random(spec.seed).shuffle(rows)
    with open(books_path) as f:
        books = [json.loads(line)["text"] for line in f if line.strip()]
    synth = rule_based_long_qa(books, spec.synthetic_doc_chars, n_questions=2, seed=spec.seed,
                               per_book=spec.synthetic_per_book)
    out.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out / "instructions.jsonl", _jsonl(rows))
    atomic_write_text(out / "synthetic_long.jsonl", _jsonl([{"task": "synthetic_long", **r} for r in synth]))
    atomic_write_json(manifest, asdict(spec))
    return out
