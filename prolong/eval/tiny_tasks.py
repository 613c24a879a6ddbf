"""Tiny, offline versions of every category, from the toy corpus's world of people and facts
(prolong.data.toy_world: the people, cities, pets and jobs the tiny models are trained on).

`write_tiny_suite(root)` writes every file of `data_layout.md` (RAG, re-rank, ICL, long-document QA/Summ, PPL
documents, short tasks) in HELMET's formats, so the same loaders and metrics run at tiny scale; the prompts keep
HELMET's skeletons and answer prefixes, only the language is simpler. `write_tiny_instructions(path)` writes short
chat examples ({"messages": [...]}) of the same task formats for SFT. Recall tasks are generated on the fly.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from prolong.eval import prompts as P
from prolong.eval.tasks.icl import balance_labels, icl_item, label_ids
from prolong.eval.tasks.recall import _json_kv_fields, _needles_fields, _passkey_fields
from prolong.data import toy_world
from prolong.eval.words import ADJECTIVES, NOUNS, VERBS, essay_sentence

JOBS = toy_world.OCCUPATIONS
PETS = toy_world.ANIMALS
PLACES = [c.name for c in toy_world.make_world(0).cities]  # the cities of the default world (seed 0)


@dataclass
class Person:
    name: str
    city: str
    pet: str
    color: str
    job: str
    friend: str = ""

    def facts(self) -> dict[str, str]:
        return {"city": f"{self.name} lives in {self.city}.", "pet": f"{self.name} has a pet {self.pet}.",
                "color": f"{self.name} likes the color {self.color}.", "job": f"{self.name} works as a {self.job}.",
                "friend": f"{self.name} is a friend of {self.friend}."}


def make_world(seed: int = 0, n: int = 60) -> list[Person]:
    """The first `n` people of the toy corpus's world (same names, cities, pets, colors and jobs as the training
    corpus), each with a friend drawn with the seed (for the two-hop HotpotQA analog)."""
    rng = random.Random(seed)
    world = toy_world.make_world(seed)
    # the corpus writes pets as "a parrot named Zorin": the tasks ask for the animal
    people = [Person(p.name, p.city, p.pet.split()[1], p.color, p.occupation) for p in world.people[:n]]
    for p in people:
        p.friend = rng.choice([q.name for q in people if q is not p])
    return people


QUESTIONS = {  # dataset -> (question template, attribute); hotpotqa is two-hop through the friend
    "nq": ("Where does {name} live?", "city"),
    "triviaqa": ("What pet does {name} have?", "pet"),
    "popqa": ("What is the job of {name}?", "job"),
    "hotpotqa": ("Where does the friend of {name} live?", "city"),
}


def _passage(p: Person, rng: random.Random, keys: list[str]) -> dict[str, str]:
    return {"title": p.name, "text": " ".join(p.facts()[k] for k in keys) + " " + essay_sentence(rng)}


def rag_rows(name: str, world: list[Person], n: int, rng: random.Random, n_ctxs: int = 60) -> list[dict]:
    by_name = {p.name: p for p in world}
    q_tmpl, attr = QUESTIONS[name]
    rows = []
    for i in range(n):
        p = rng.choice(world)
        target = by_name[p.friend] if name == "hotpotqa" else p
        gold = [_passage(target, rng, [attr])]
        if name == "hotpotqa":
            gold.insert(0, _passage(p, rng, ["friend"]))
        others = [q for q in world if q.name not in (p.name, target.name)]
        ctxs = [_passage(q, rng, rng.sample(["city", "pet", "color", "job"], 2)) for q in
                rng.sample(others, n_ctxs - len(gold))]
        for g in gold:  # gold within the first 8 passages, so any fitted count keeps it
            ctxs.insert(rng.randrange(0, 8), g)
        rows.append({"id": f"{name}-{i}", "question": q_tmpl.format(name=p.name),
                     "answers": [getattr(target, attr)], "ctxs": ctxs})
    return rows


def rerank_rows(world: list[Person], n: int, rng: random.Random, n_ctxs: int = 40) -> list[dict]:
    rows = []
    for i in range(n):
        p = rng.choice(world)
        attr = rng.choice(["city", "pet", "job"])
        query = {"city": f"where does {p.name} live", "pet": f"pet of {p.name}", "job": f"job of {p.name}"}[attr]
        ids = rng.sample(range(1000, 99999), n_ctxs)
        ctxs = [{"title": p.name, "text": p.facts()[attr], "label": 3}]
        ctxs += [{"title": p.name, "text": p.facts()[k], "label": 1} for k in ("color", "friend")]
        for q in rng.sample([q for q in world if q is not p], n_ctxs - len(ctxs)):
            ctxs.append({"title": q.name, "text": q.facts()[rng.choice(["city", "pet", "job"])], "label": 0})
        rel, irr = ctxs[:3], ctxs[3:]
        rng.shuffle(irr)
        for c in rel:
            irr.insert(rng.randrange(0, 8), c)
        rows.append({"qid": f"q{i}", "query": query,
                     "ctxs": [{"id": str(d), **c} for d, c in zip(ids, irr)]})
    return rows


# ICL: the label is determined by one slot word; a model solves it by matching the demos
ICL_SPECS = {
    "icl_trec_coarse": ("What is the {adj} {w}?", NOUNS[:6]),
    "icl_trec_fine": ("Tell me about the {adj} {w}.", NOUNS[6:18]),
    "icl_nlu": ("Please {w} the {adj} item.", VERBS[:8]),
    "icl_banking77": ("My card is {w} and {adj}.", ADJECTIVES[:10]),
    "icl_clinc150": ("What about {w} today, {adj} friend?", NOUNS[20:35]),
}


def icl_rows(name: str, n: int, rng: random.Random) -> list[dict]:
    tmpl, labels = ICL_SPECS[name]
    rows = []
    for _ in range(n):
        w = rng.choice(labels)
        rows.append({"text": tmpl.format(w=w, adj=rng.choice(ADJECTIVES[10:])), "label": w})
    return rows


def _story(world: list[Person], rng: random.Random, n_sent: int) -> tuple[str, Person, list[str]]:
    cast = rng.sample(world, 4)
    sents = [essay_sentence(rng) for _ in range(n_sent)]
    facts = [f for p in cast for f in p.facts().values()]
    for f in facts:
        sents.insert(rng.randrange(0, max(1, len(sents) // 3)), f)  # facts early: they survive truncation
    return " ".join(sents), cast[0], facts


def longdoc_rows(name: str, world: list[Person], n: int, rng: random.Random, n_sent: int = 400) -> list[dict]:
    rows = []
    for i in range(n):
        story, p, facts = _story(world, rng, n_sent)
        attr = rng.choice(["city", "pet", "job"])
        q = {"city": f"Where does {p.name} live?", "pet": f"What pet does {p.name} have?",
             "job": f"What is the job of {p.name}?"}[attr]
        ans = getattr(p, attr)
        if name == "narrativeqa":
            rows.append({"id": str(i), "context": story, "question": q, "answers": [ans]})
        elif name == "infbench_qa":
            rows.append({"id": i, "context": story, "input": q, "answer": [ans], "options": []})
        elif name == "infbench_mc":
            pool = {"city": PLACES, "pet": PETS, "job": JOBS}[attr]
            opts = rng.sample([x for x in pool if x != ans], 3) + [ans]
            rng.shuffle(opts)
            rows.append({"id": i, "context": story, "input": q, "answer": [ans], "options": opts})
        else:
            a, b = rng.sample(world, 2)
            thing = rng.choice(NOUNS)
            winner = rng.choice([a, b])
            kps = [f"{a.name} sued {b.name} in {a.city}.", f"The case was about the {thing}.",
                   f"The court ruled for {winner.name}."]
            doc = " ".join(kps[:2] + [essay_sentence(rng) for _ in range(n_sent // 2)] + kps[2:] +
                           [essay_sentence(rng) for _ in range(n_sent // 2)])
            if name == "multi_lexsum":
                rows.append({"id": str(i), "context": doc, "summary": " ".join(kps), "keypoints": kps})
            else:
                rows.append({"id": i, "context": doc, "input": "", "answer": [" ".join(kps)], "options": []})
    return rows


def short_rows(task: str, world: list[Person], n: int, rng: random.Random) -> list[dict]:
    rows = []
    for _ in range(n):
        p = rng.choice(world)
        if task == "hellaswag":
            wrong = rng.sample([c for c in PLACES if c != p.city], 3)
            ends = [f"walks around {c}." for c in [p.city] + wrong]
            order = list(range(4))
            rng.shuffle(order)
            rows.append({"activity_label": "Daily life", "ctx": f"{p.name} lives in {p.city}. Every day {p.name}",
                         "endings": [ends[j] for j in order], "label": order.index(0)})
        elif task == "mmlu":
            opts = rng.sample([c for c in PLACES if c != p.city], 3) + [p.city]
            rng.shuffle(opts)
            rows.append({"question": f"Where does {p.name} live?", "choices": opts, "answer": opts.index(p.city),
                         "subject": "toy_world"})
        elif task == "arc_challenge":
            opts = rng.sample([c for c in PETS if c != p.pet], 3) + [p.pet]
            rng.shuffle(opts)
            rows.append({"question": f"What pet does {p.name} have?",
                         "choices": {"text": opts, "label": list("ABCD")}, "answerKey": "ABCD"[opts.index(p.pet)]})
        elif task == "winogrande":
            big, small = rng.sample(NOUNS, 2)
            word = rng.choice(["big", "small"])
            rows.append({"sentence": f"The {big} did not fit in the {small} because the _ was too {word}.",
                         "option1": big, "option2": small, "answer": "1" if word == "big" else "2"})
        else:
            a, b = rng.randint(2, 9), rng.randint(2, 9)
            thing = rng.choice(["apples", "books", "stones", "cakes"])
            rows.append({"question": f"{p.name} has {a} {thing} and gets {b} more. How many {thing} does "
                                     f"{p.name} have now?",
                         "answer": f"{p.name} has {a} + {b} = {a + b} {thing}.\n#### {a + b}"})
    return rows


def _write(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))


def write_tiny_suite(root: str | Path, seed: int = 0, n_items: int = 20, n_sent: int = 400,
                     ppl_docs: int = 4, ppl_words: int = 6000) -> Path:
    """Write the whole tiny data suite under `root` (deterministic for a seed); returns `root`."""
    root = Path(root)
    world = make_world(seed)
    rng = random.Random(seed + 1)
    for name in QUESTIONS:
        _write(root / "rag" / f"{name}.jsonl", rag_rows(name, world, n_items, rng))
        _write(root / "rag" / f"{name}_demo.jsonl", rag_rows(name, world, 8, rng, n_ctxs=6))
    _write(root / "rerank" / "msmarco.jsonl", rerank_rows(world, n_items, rng))
    _write(root / "rerank" / "msmarco_demo.jsonl", rerank_rows(world, 8, rng, n_ctxs=10))
    for name in ICL_SPECS:
        _write(root / "icl" / f"{name}_train.jsonl", icl_rows(name, 200, rng))
        _write(root / "icl" / f"{name}_test.jsonl", icl_rows(name, n_items, rng))
    for name in ("narrativeqa", "infbench_qa", "infbench_mc", "multi_lexsum", "infbench_sum"):
        _write(root / "longdoc" / f"{name}.jsonl", longdoc_rows(name, world, n_items, rng, n_sent))
    for task in ("hellaswag", "mmlu", "arc_challenge", "winogrande", "gsm8k"):
        _write(root / "short" / f"{task}.jsonl", short_rows(task, world, n_items, rng))
        _write(root / "short" / f"{task}_train.jsonl", short_rows(task, world, 10, rng))
    docs = []
    for _ in range(ppl_docs):
        words, sents = 0, []
        while words < ppl_words:
            s = essay_sentence(rng) if rng.random() < 0.7 else rng.choice(list(rng.choice(world).facts().values()))
            sents.append(s)
            words += len(s.split())
        docs.append({"text": " ".join(sents)})
    _write(root / "ppl" / "pg19.jsonl", docs)
    return root


def _msg(user: str, answer: str) -> dict[str, Any]:
    return {"messages": [{"role": "user", "content": user}, {"role": "assistant", "content": answer}]}


def tiny_instructions(seed: int = 0, n_per_task: int = 20) -> list[dict[str, Any]]:
    """Short chat examples of every task format (the assistant turn = answer prefix + gold answer)."""
    world, rng, out = make_world(seed), random.Random(seed + 7), []

    def add(task: str, user_t: str, prefix: str, fields: dict[str, str], answer: str) -> None:
        out.append({"task": task, **_msg(user_t.format(**fields), f"{prefix} {answer}".strip())})

    for i in range(n_per_task):
        f, v = _json_kv_fields(rng.randint(4, 12), random.Random(rng.random()), i)
        add("json_kv", P.JSON_KV_USER, P.JSON_KV_PREFIX, f, v)
        for name, kind in (("ruler_mk_needle", "mk_needle"), ("ruler_mk_uuid", "mk_uuid"), ("ruler_mv", "mv")):
            f, ans = _needles_fields(kind, rng.randint(3, 8), random.Random(rng.random()), i)
            user, pre = (P.RULER_MV_USER, P.RULER_MV_PREFIX) if kind == "mv" else (P.RULER_NIAH_USER,
                                                                                     P.RULER_NIAH_PREFIX)
            add(name, user, pre.format(**f), f, ", ".join(ans) + ".")
        f, v = _passkey_fields(rng.randint(3, 10), random.Random(rng.random()), i)
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


def write_tiny_instructions(path: str | Path, seed: int = 0, n_per_task: int = 20) -> Path:
    """Write `tiny_instructions` as jsonl ({"task", "messages"}) for the SFT stage; returns the path."""
    path = Path(path)
    _write(path, tiny_instructions(seed, n_per_task))
    return path
