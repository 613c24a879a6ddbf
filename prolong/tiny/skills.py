"""Skill passages: the short, dense events through which a tiny model acquires what HELMET measures.

A 2M-parameter model learns in-context retrieval only when the training signal for it is dense (many retrieval
events per sequence, the loss on every token), not from a rare question at the end of a long prompt. So the tiny
sources interleave their text with passages, each a few dozen tokens, that state things and then use them:

    passkey       a pass key hidden in a haystack of filler sentences, then asked for (Recall: the NIAH passkey, the
                  one retrieval a 4-layer, 1M-parameter model acquires at 256 tokens within the base's budget)
    needles       "One of the special magic numbers for amber-zorkel is: 4821937." lines, then lookups (Recall)
    documents     titled passages about a cast, then a question answered from one of them (RAG, QA)
    ranking       passages with IDs and a query, then the IDs ranked by relevance (Re-rank)
    mapping       texts with labels drawn afresh per passage, then a text to label (ICL)
    knowledge     the world's standing facts: a job's work, a city's country, a species' food (the short tasks)

Everything said about a person holds in its passage only (prolong.tiny.world.random_person), so a model can answer
from its context and never from memory. Keys are a color and a species of the world ("amber-zorkel"); the
evaluation's keys are English adjective-noun pairs and its people are the world's held-out people, so no
evaluation item's key, name or answer occurs in training (tests/tiny/test_tiny_heldout.py).
"""

from __future__ import annotations

import random

from prolong.eval import prompts as P
from prolong.eval.words import ADJECTIVES, FILLER, NOUNS, VERBS, essay_sentence
from prolong.tiny.world import ACTIVITIES, COLORS, Person, World, random_person

ATTRIBUTES = ("city", "job", "pet", "number")

# ICL: the label is determined by one slot word; a model solves it by matching the demos
ICL_SPECS = {
    "icl_trec_coarse": ("What is the {adj} {w}?", NOUNS[:6]),
    "icl_trec_fine": ("Tell me about the {adj} {w}.", NOUNS[6:18]),
    "icl_nlu": ("Please {w} the {adj} item.", VERBS[:8]),
    "icl_banking77": ("My card is {w} and {adj}.", ADJECTIVES[:10]),
    "icl_clinc150": ("What about {w} today, {adj} friend?", NOUNS[20:35]),
}


def cast(rng: random.Random, world: World, k: int) -> list[Person]:
    """`k` training people (distinct names) with attributes drawn for this passage alone."""
    return [random_person(rng, p.name, world) for p in rng.sample(world.people, k)]


def statement(p: Person, attr: str) -> str:
    return {"city": f"{p.name} lives in {p.city}.", "job": f"{p.name} works as a {p.occupation}.",
            "pet": f"{p.name} has a pet {p.pet.split()[1]}.",
            "number": f"The secret number of {p.name} is {p.key_number}."}[attr]


def question(p: Person, attr: str) -> tuple[str, str]:
    """(question, short answer) about one attribute."""
    return {"city": (f"Where does {p.name} live?", p.city), "job": (f"What is the job of {p.name}?", p.occupation),
            "pet": (f"What pet does {p.name} have?", p.pet.split()[1]),
            "number": (f"What is the secret number of {p.name}?", str(p.key_number))}[attr]


def key(rng: random.Random, world: World) -> str:
    return f"{rng.choice(COLORS)}-{rng.choice(world.species).name}"


def needles(rng: random.Random, world: World, chat: bool = False) -> str:
    """3-10 magic-number needles, then 2 to (needles + 2) lookups of them (RULER's MK-needle, short)."""
    n = rng.randint(3, 10)
    keys = list(dict.fromkeys(key(rng, world) for _ in range(n)))
    vals = {k: str(rng.randint(1_000_000, 9_999_999)) for k in keys}
    lines = "\n".join(P.RULER_NEEDLE.format(type_needle_v="numbers", key=k, value=vals[k]) for k in keys)
    out = [lines]
    for k in rng.choices(keys, k=rng.randint(2, len(keys) + 2)):  # many lookups: a dense signal
        if chat:
            out.append(f"User: What is the special magic number for {k} mentioned in the provided text?\n"
                       f"Assistant: {P.RULER_NIAH_PREFIX.format(type_needle_v='number', query=k)} {vals[k]}.")
        else:
            out.append(f"The special magic number for {k} mentioned in the provided text is {vals[k]}.")
    return "\n".join(out)


def passkey(rng: random.Random, world: World, chat: bool = False, prompt: bool = False) -> str:
    """The passkey NIAH in miniature: HELMET's needle at a random depth of 0-12 filler sentences (the world's essay
    sentences, or RULER's repeated filler), the question, the answer. Several fit in one 256-token sequence, so the
    retrieval signal is dense (a probe measured the skill emerging after ~600 steps of 16 x 256 such tokens)."""
    value = str(rng.randint(10_000, 99_999))
    n = rng.choice([0, 1, 2, 4, 8, 12])
    fill = [FILLER] * max(1, n // 4) if rng.random() < 0.3 else [essay_sentence(rng) for _ in range(n)]
    fill.insert(rng.randint(0, len(fill)), P.PASSKEY_NEEDLE.format(value=value))
    context = " ".join(fill)
    if chat:
        return f"User: {P.PASSKEY_USER.format(context=context)}\nAssistant: {P.PASSKEY_PREFIX} {value}."
    if prompt:  # HELMET's plain prompt and answer prefix, as the evaluation builds them (prompts.format_prompt)
        return f"{P.PASSKEY_USER.format(context=context)}\n{P.PASSKEY_PREFIX} {value}."
    return f"{context}\nWhat is the pass key? {P.PASSKEY_PREFIX} {value}."


def documents(rng: random.Random, world: World) -> str:
    """Titled passages about 3-6 people, then 2-4 questions, each answered by one passage (RAG / QA)."""
    people = cast(rng, world, rng.randint(3, 6))
    docs = [P.RAG_PASSAGE.format(title=p.name, text=" ".join(statement(p, a) for a in rng.sample(ATTRIBUTES, 2)))
            for p in people]
    out = ["\n".join(docs)]
    for _ in range(rng.randint(2, 4)):
        p = rng.choice(people)
        attr = next(a for a in ATTRIBUTES if statement(p, a) in docs[people.index(p)])
        q, a = question(p, attr)
        out.append(f"Question: {q}\nAnswer: {a}")
    return "\n".join(out)


def ranking(rng: random.Random, world: World) -> str:
    """4-7 passages with IDs, a query about one person's attribute, the IDs ranked: the passage answering it, the
    other passages about the same person, the rest (Re-rank, MS MARCO's format)."""
    people = cast(rng, world, rng.randint(3, 5))
    target, attr = people[0], rng.choice(ATTRIBUTES)
    rows = [(3, target, attr)] + [(1, target, a) for a in rng.sample([a for a in ATTRIBUTES if a != attr], 1)]
    rows += [(0, p, rng.choice(ATTRIBUTES)) for p in people[1:]]
    rng.shuffle(rows)
    ids = rng.sample(range(100, 999), len(rows))
    text = "\n".join(P.RERANK_PASSAGE.format(id=i, title=p.name, text=statement(p, a)) for i, (_, p, a) in
                     zip(ids, rows))
    order = [ids[k] for k in sorted(range(len(rows)), key=lambda k: -rows[k][0])]  # stable: ties keep their order
    query = question(target, attr)[0]
    return f"{text}\nQuery: {query}\nRanking: " + " > ".join(str(i) for i in order)


def mapping(rng: random.Random, templates: list[tuple[str, list[str]]], adjectives: list[str]) -> str:
    """Texts whose label is set by one slot word, labels numbered afresh per passage; 4-8 demos and one query
    (ICL: the label can only be read off the demos)."""
    tmpl, words = rng.choice(templates)
    words = rng.sample(words, min(len(words), rng.randint(3, 5)))
    ids = dict(zip(words, rng.sample(range(len(words) + 3), len(words))))
    demos = [rng.choice(words) for _ in range(rng.randint(4, 8))]
    query = rng.choice(demos)
    items = [P.ICL_ITEM.format(text=tmpl.format(w=w, adj=rng.choice(adjectives)), label=ids[w])
             for w in demos + [query]]
    return "\n\n".join(items)


def knowledge(rng: random.Random, world: World) -> str:
    """One standing fact of the world, as the short sources teach it."""
    kind = rng.randrange(4)
    if kind == 0:
        job = rng.choice(list(ACTIVITIES))
        p = rng.choice(world.people)
        return rng.choice([f"A {job} {ACTIVITIES[job]}.",
                           f"{p.name} works as a {job}. Every day {p.name.split()[0]} {ACTIVITIES[job]}."])
    if kind == 1:
        c = rng.choice(world.cities)
        return rng.choice([f"{c.name} is a city in {c.country}.", f"The city of {c.name} lies in {c.country}."])
    if kind == 2:
        s = rng.choice(world.species)
        return rng.choice([f"The {s.name} feeds on {s.diet}.", f"What does the {s.name} eat? It eats {s.diet}."])
    a, b = rng.randint(2, 49), rng.randint(2, 49)
    return f"{a} + {b} = {a + b}."
