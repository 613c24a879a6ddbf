"""The tiny instruction data (the SFT stage's data at tiny scale), generated offline in seconds into <data>/tiny/sft/:

    instructions.jsonl     short chat examples ({"task", "messages"}) of every task format the tiny evaluation uses
                           (`suite_instructions`: recall, RAG, re-rank, ICL, QA, summ) plus general chat about the
                           tiny world (`world_chat`): fact questions, follow-ups, lists of facts, some with a system
                           turn. The UltraChat of the tiny scale: short only.
    synthetic_long.jsonl   the ablation's synthetic long SFT data (prolong.tiny.long_qa over the tiny corpus's books)

`write_instructions(books_path, out_dir)` writes both (prolong.tiny.build_tiny calls it after the corpus).
"""

from __future__ import annotations

import json
import random
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from prolong.eval import prompts as P
from prolong.eval.tasks.icl import balance_labels, icl_item, label_ids
from prolong.eval.tasks.recall import json_kv_fields, needles_fields, passkey_fields
from prolong.io import atomic_write_json, atomic_write_text
from prolong.tiny.corpus import GENERATOR_VERSION
from prolong.tiny.eval_suite import (ICL_SPECS, QUESTIONS, icl_rows, jsonl_text, longdoc_rows, profiles, rag_rows,
                                     rerank_rows)
from prolong.tiny.long_qa import rule_based_long_qa
from prolong.tiny.world import fact_question, fact_sentence, make_world

SYSTEM_PROMPTS = ["You are a helpful assistant.", "Answer briefly and precisely.",
                  "You are a knowledgeable guide to the world's cities and people."]


@dataclass(frozen=True)
class InstructionSpec:
    """What the tiny SFT files are made with (their manifest.json: a different spec rewrites them)."""

    seed: int = 0
    n_per_task: int = 20
    "suite_instructions per task format"
    n_world_chat: int = 600
    "general chat conversations about the tiny world"
    synthetic_doc_chars: int = 3800
    "document length of the synthetic long QA (about 900 tiny tokens: fits a 1K tiny SFT sequence)"
    synthetic_per_book: int = 3
    version: int = 1


def world_chat(seed: int = 0, n: int = 600) -> list[dict]:
    """General chat-style instructions about the tiny world ({"task": "world_chat", "messages": [...]})."""
    world = make_world(seed)
    facts = world.facts(people=False)  # the people's attributes are drawn per document: no standing facts
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


def _msg(user: str, answer: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]}


def suite_instructions(seed: int = 0, n_per_task: int = 20) -> list[dict[str, Any]]:
    """Short chat examples of every task format (the assistant turn = answer prefix + gold answer)."""
    rng, out = random.Random(seed + 7), []

    def add(task: str, user_t: str, prefix: str, fields: dict[str, str], answer: str) -> None:
        out.append({"task": task, **_msg(user_t.format(**fields), f"{prefix} {answer}".strip())})

    for i in range(n_per_task):
        world = profiles(seed, heldout=False, draw=i)  # training people, attributes drawn for these examples
        f, v = json_kv_fields(rng.randint(4, 12), random.Random(rng.random()), i)
        add("json_kv", P.JSON_KV_USER, P.JSON_KV_PREFIX, f, v)
        for name, kind in (("ruler_mk_needle", "mk_needle"), ("ruler_mk_uuid", "mk_uuid"), ("ruler_mv", "mv")):
            f, ans = needles_fields(kind, rng.randint(3, 8), random.Random(rng.random()), i)
            user, pre = (P.RULER_MV_USER, P.RULER_MV_PREFIX) if kind == "mv" else (P.RULER_NIAH_USER,
                                                                                     P.RULER_NIAH_PREFIX)
            add(name, user, pre.format(**f), f, ", ".join(ans) + ".")
        f, v = passkey_fields(rng.randint(3, 10), random.Random(rng.random()), i)
        add("niah_passkey", P.PASSKEY_USER, P.PASSKEY_PREFIX, f, v + ".")
        for name in QUESTIONS:
            r = rag_rows(name, world, 1, rng, n_ctxs=5)[0]
            ctx = "\n\n".join(P.RAG_PASSAGE.format(**c) for c in r["ctxs"])
            add(name, P.RAG_USER, P.RAG_PREFIX, {"demos": "", "context": ctx, "question": r["question"]},
                r["answers"][0])
        r = rerank_rows(world, 1, rng, n_ctxs=6)[0]
        ctx = "\n\n".join(P.RERANK_PASSAGE.format(**c) for c in r["ctxs"])
        gold = " > ".join(c["id"] for c in sorted(r["ctxs"], key=lambda c: c["label"], reverse=True))
        add("msmarco_rerank", P.RERANK_USER, P.RERANK_PREFIX, {"demos": "", "context": ctx, "question": r["query"]},
            gold)
        for name in ICL_SPECS:
            rows, n_labels = label_ids(icl_rows(name, 40, rng))
            demos = balance_labels(rows[1:], 12, rng.randrange(2**31))  # varied demos for training diversity
            ctx, ans = icl_item(rows[0]["text"], rows[0]["label"], demos, n_labels, seed)
            add(name, P.ICL_USER, P.ICL_PREFIX, {"context": ctx, "question": rows[0]["text"]}, ans)
        r = longdoc_rows("narrativeqa", world, 1, rng, n_sent=10)[0]
        add("narrativeqa", P.NARRATIVEQA_USER, "", {"demos": "", "context": r["context"],
                                                    "question": r["question"]}, r["answers"][0])
        r = longdoc_rows("multi_lexsum", world, 1, rng, n_sent=10)[0]
        add("multi_lexsum", P.MULTI_LEXSUM_USER, "", {"demos": "", "context": r["context"]}, r["summary"])
    return out


def write_instructions(books_path: Path, out_dir: Path, spec: InstructionSpec = InstructionSpec(),
                       force: bool = False) -> bool:
    """Write the tiny SFT files (module doc) to `out_dir` unless present with the same spec and generator version
    (its manifest.json: files made from another version's books or suite are rewritten); `books_path` is the tiny
    corpus's books.jsonl (for the synthetic long QA). True when written."""
    manifest = out_dir / "manifest.json"
    stamp = {**asdict(spec), "generator": GENERATOR_VERSION}
    if not force and manifest.is_file() and json.loads(manifest.read_text()) == stamp:
        return False
    rows = suite_instructions(spec.seed, spec.n_per_task) + world_chat(spec.seed, spec.n_world_chat)
    random.Random(spec.seed).shuffle(rows)
    with open(books_path) as f:
        books = [json.loads(line)["text"] for line in f if line.strip()]
    synth = rule_based_long_qa(books, spec.synthetic_doc_chars, n_questions=2, seed=spec.seed,
                               per_book=spec.synthetic_per_book)
    out_dir.mkdir(parents=True, exist_ok=True)
    atomic_write_text(out_dir / "instructions.jsonl", jsonl_text(rows))
    atomic_write_text(out_dir / "synthetic_long.jsonl", jsonl_text([{"task": "synthetic_long", **r} for r in synth]))
    atomic_write_json(manifest, stamp)
    return True
