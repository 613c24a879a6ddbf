"""The tiny evaluation suite: every HELMET category, offline, about the tiny world's people (prolong.tiny.world: the
people, cities, pets and jobs the tiny models are trained on).

`write_tiny_suite(root)` writes every file of prolong/eval/data_layout.md (RAG, re-rank, ICL, long-document QA/Summ,
PPL documents, short tasks) in HELMET's formats, so the same loaders and metrics run at tiny scale; the prompts keep
HELMET's skeletons and answer prefixes, only the language is simpler. Recall tasks are generated on the fly by
prolong.eval.tasks.recall. The row builders here are reused by prolong.tiny.instructions for the SFT data.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass
from pathlib import Path

from prolong.eval.categories import HELMET_CATEGORIES, QA, SHORT_TASKS, SUMM
from prolong.eval.words import ADJECTIVES, NOUNS, essay_sentence
from prolong.tiny.books import make_book
from prolong.tiny.skills import ICL_SPECS, question, statement
from prolong.tiny.world import ACTIVITIES, ANIMALS, OCCUPATIONS, Person, World, make_world, random_person

JOBS = OCCUPATIONS
PETS = ANIMALS
PLACES = [c.name for c in make_world(0).cities]  # the cities of the default world (seed 0)


@dataclass(frozen=True)
class Profile:
    """One person of the world as the suite asks about them: the pet as its animal (the corpus writes "a parrot named
    Zorin", the tasks ask for "parrot") and a friend (for the two-hop HotpotQA analog). `pet`/`job` are the suite's
    attribute names (the keys of `facts`)."""

    person: Person
    friend: str

    @property
    def name(self) -> str:
        return self.person.name

    @property
    def city(self) -> str:
        return self.person.city

    @property
    def pet(self) -> str:
        return self.person.pet.split()[1]

    @property
    def color(self) -> str:
        return self.person.color

    @property
    def job(self) -> str:
        return self.person.occupation

    def facts(self) -> dict[str, str]:
        return {"city": statement(self.person, "city"), "pet": statement(self.person, "pet"),
                "color": f"{self.name} likes the color {self.color}.", "job": statement(self.person, "job"),
                "friend": f"{self.name} is a friend of {self.friend}."}


def profiles(seed: int = 0, n: int = 60, heldout: bool = True, draw: int = 0) -> list[Profile]:
    """`n` people of the world of `seed`, each with a friend among them drawn with the seed. Held-out people by
    default (the evaluation's: no training document names them); `heldout=False` gives training people with
    attributes drawn afresh for each `draw` (the SFT data's: true of them in that data only)."""
    rng = random.Random(seed if heldout else f"train-{seed}-{draw}")
    world = make_world(seed)
    if heldout:
        people = world.heldout_people[:n]
    else:
        people = [random_person(rng, p.name, world) for p in rng.sample(world.people, n)]
    return [Profile(p, rng.choice([q.name for q in people if q is not p])) for p in people]


QUESTIONS = {  # dataset -> (question template, attribute); hotpotqa is two-hop through the friend
    "nq": ("Where does {name} live?", "city"),
    "triviaqa": ("What pet does {name} have?", "pet"),
    "popqa": ("What is the job of {name}?", "job"),
    "hotpotqa": ("Where does the friend of {name} live?", "city"),
}


def _passage(p: Profile, rng: random.Random, keys: list[str]) -> dict[str, str]:
    return {"title": p.name, "text": " ".join(p.facts()[k] for k in keys) + " " + essay_sentence(rng)}


def rag_rows(name: str, world: list[Profile], n: int, rng: random.Random, n_ctxs: int = 60) -> list[dict]:
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


def rerank_rows(world: list[Profile], n: int, rng: random.Random, n_ctxs: int = 40) -> list[dict]:
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


def icl_rows(name: str, n: int, rng: random.Random) -> list[dict]:
    tmpl, labels = ICL_SPECS[name]
    rows = []
    for _ in range(n):
        w = rng.choice(labels)
        rows.append({"text": tmpl.format(w=w, adj=rng.choice(ADJECTIVES[10:])), "label": w})
    return rows


def _story(world: list[Profile], rng: random.Random, n_sent: int) -> tuple[str, Profile, list[str]]:
    cast = rng.sample(world, 4)
    sents = [essay_sentence(rng) for _ in range(n_sent)]
    facts = [f for p in cast for f in p.facts().values()]
    for f in facts:
        sents.insert(rng.randrange(0, max(1, len(sents) // 3)), f)  # facts early: they survive truncation
    return " ".join(sents), cast[0], facts


def longdoc_rows(name: str, world: list[Profile], n: int, rng: random.Random, n_sent: int = 400) -> list[dict]:
    rows = []
    for i in range(n):
        story, p, facts = _story(world, rng, n_sent)
        attr = rng.choice(["city", "pet", "job"])
        q, ans = question(p.person, attr)
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


def short_rows(task: str, world: list[Profile], n: int, rng: random.Random, full: World) -> list[dict]:
    """The short tasks test what the short sources teach (prolong.tiny.skills.knowledge), as HellaSwag and MMLU
    test what pretraining taught: a job's work (HellaSwag), a city's country (MMLU), a species' food (ARC), sums
    (GSM8K); WinoGrande is a sentence frame. The people in them (`world`) are held out; the facts come from the
    whole world `full`."""
    rows = []
    for _ in range(n):
        p = rng.choice(world)
        first = p.name.split()[0]
        if task == "hellaswag":
            wrong = rng.sample([a for j, a in ACTIVITIES.items() if j != p.job], 3)
            ends = [f"{a}." for a in [ACTIVITIES[p.job]] + wrong]
            order = list(range(4))
            rng.shuffle(order)
            rows.append({"activity_label": "Daily life", "ctx": f"{p.name} works as a {p.job}. Every day {first}",
                         "endings": [ends[j] for j in order], "label": order.index(0)})
        elif task == "mmlu":
            city = rng.choice(full.cities)
            opts = rng.sample([c.name for c in full.countries if c.name != city.country], 3) + [city.country]
            rng.shuffle(opts)
            rows.append({"question": f"In which country is the city {city.name}?", "choices": opts,
                         "answer": opts.index(city.country), "subject": "toy_world"})
        elif task == "arc_challenge":
            s = rng.choice(full.species)
            diets = sorted({t.diet for t in full.species})
            opts = rng.sample([d for d in diets if d != s.diet], 3) + [s.diet]
            rng.shuffle(opts)
            rows.append({"question": f"What does the {s.name} eat?",
                         "choices": {"text": opts, "label": list("ABCD")}, "answerKey": "ABCD"[opts.index(s.diet)]})
        elif task == "winogrande":
            big, small = rng.sample(NOUNS, 2)
            word = rng.choice(["big", "small"])
            rows.append({"sentence": f"The {big} did not fit in the {small} because the _ was too {word}.",
                         "option1": big, "option2": small, "answer": "1" if word == "big" else "2"})
        else:
            a, b = rng.randint(2, 49), rng.randint(2, 49)
            rows.append({"question": f"{first} has {a} stones and gets {b} more. How many stones does {first} "
                                     f"have now?",
                         "answer": f"{a} + {b} = {a + b}.\n#### {a + b}"})
    return rows


def jsonl_text(rows: list[dict]) -> str:
    """One JSON object a line (ASCII-escaped, the bytes every tiny data file is written with)."""
    return "".join(json.dumps(r) + "\n" for r in rows)


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(jsonl_text(rows))


def write_tiny_suite(root: str | Path, seed: int = 0, n_items: int = 40, n_sent: int = 400,
                     ppl_docs: int = 4, ppl_words: int = 6000) -> Path:
    """Write the whole tiny data suite under `root` (deterministic for a seed); returns `root`."""
    root = Path(root)
    world = profiles(seed)
    rng = random.Random(seed + 1)
    for name in QUESTIONS:
        write_jsonl(root / "rag" / f"{name}.jsonl", rag_rows(name, world, n_items, rng))
        write_jsonl(root / "rag" / f"{name}_demo.jsonl", rag_rows(name, world, 8, rng, n_ctxs=6))
    write_jsonl(root / "rerank" / "msmarco.jsonl", rerank_rows(world, n_items, rng))
    write_jsonl(root / "rerank" / "msmarco_demo.jsonl", rerank_rows(world, 8, rng, n_ctxs=10))
    for name in ICL_SPECS:
        write_jsonl(root / "icl" / f"{name}_train.jsonl", icl_rows(name, 200, rng))
        write_jsonl(root / "icl" / f"{name}_test.jsonl", icl_rows(name, n_items, rng))
    for name in (*HELMET_CATEGORIES[QA], *HELMET_CATEGORIES[SUMM]):
        write_jsonl(root / "longdoc" / f"{name}.jsonl", longdoc_rows(name, world, n_items, rng, n_sent))
    full = make_world(seed)
    for task in SHORT_TASKS:
        write_jsonl(root / "short" / f"{task}.jsonl", short_rows(task, world, n_items, rng, full))
        write_jsonl(root / "short" / f"{task}_train.jsonl", short_rows(task, world, 10, rng, full))
    # PPL (the paper's PG-19 books): held-out books, a cast of held-out people and pets
    pets = [p.pet.split()[-1] for p in full.heldout_people]
    docs = [{"text": make_book(rng, full, ppl_words * 6, full.heldout_people, pets)} for _ in range(ppl_docs)]
    write_jsonl(root / "ppl" / "pg19.jsonl", docs)
    return root
