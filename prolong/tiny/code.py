"""Generated code repositories for the tiny corpus: the paper's long-range structure of code, from the seed alone.

A repository is one package whose files build on each other, in order:

    <pkg>/__init__.py       version and a docstring naming the package's domain
    <pkg>/constants.py      constants with specific values (MAX_CARGO_STRELTH = 4821, HOME_CITY = "Ostrel") and
                            lookup tables keyed by names of the tiny world (PORT_CODES = {"Ostrel": 512, ...})
    <pkg>/models.py         classes with specific constructor signatures and attributes
    <pkg>/<module>.py ...   modules that import names from EARLIER files (constants, classes, functions of any
                            earlier module, chosen uniformly so often far back) and call them with their exact names,
                            arities and keyword names, then define new functions of their own
    tests/test_<pkg>.py     asserts the constants' and tables' exact values and calls the early functions and classes
    README.md               usage that quotes early definitions with their values and signatures

so a token late in a repository (a constant's value in the test, a keyword of a function defined 100K characters
earlier) can only be predicted from context far back in the same document: the property that makes code
repositories good long data in the paper. Files are valid Python (the README is Markdown), concatenated with path
headers by prolong.data.sources.repo_document. Everything is a pure function of (seed, world): nothing on the machine
is read, so the same seed gives the same bytes on any machine.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from typing import Iterator

from prolong.data.sources import REPO_HEADER, repo_document
from prolong.tiny.world import World

THEMES = {
    "ferry": ["cargo", "berth", "toll", "crossing", "deck", "tide"],
    "harvest": ["yield", "field", "grain", "season", "silo", "plot"],
    "census": ["household", "district", "ledger", "survey", "tally", "record"],
    "weather": ["rainfall", "gust", "station", "reading", "front", "forecast"],
    "library": ["shelf", "loan", "volume", "catalog", "reader", "index"],
    "market": ["stall", "price", "trader", "order", "coin", "basket"],
    "railway": ["track", "signal", "carriage", "timetable", "platform", "junction"],
    "observatory": ["orbit", "lens", "sighting", "transit", "chart", "epoch"],
}
VERBS = ["compute", "count", "merge", "check", "load", "scale", "route", "rank", "estimate", "collect", "convert",
         "measure", "assign", "balance", "resolve", "schedule", "inspect", "pack", "sort", "reserve"]
QUALIFIERS = ["max", "min", "default", "base", "spare", "daily", "total", "local", "peak", "reserve"]
PROSE = ["Keep this in sync with the table in constants.py.", "Values are in whole units unless noted.",
         "Callers outside the package should prefer the public helpers.", "The result is never negative.",
         "Used by the nightly report.", "Mirrors the rule the harbor office uses.", "Raises nothing; returns 0 on "
         "empty input.", "See the README for an example."]


@dataclass
class Func:
    module: str
    name: str
    params: list[str]                     # required positional parameters
    kwargs: list[tuple[str, int]]         # keyword parameters and their default values


@dataclass
class Klass:
    module: str
    name: str
    params: list[str]
    defaults: list[tuple[str, int]]


@dataclass
class Repo:
    pkg: str
    theme: str
    consts: dict[str, int | float | str] = field(default_factory=dict)
    tables: dict[str, dict[str, int]] = field(default_factory=dict)
    classes: list[Klass] = field(default_factory=list)
    funcs: list[Func] = field(default_factory=list)
    files: list[tuple[str, str]] = field(default_factory=list)

    def size(self) -> int:
        return sum(len(REPO_HEADER.format(path=p)) + len(t) for p, t in self.files)


class _Gen:
    def __init__(self, rng: random.Random, world: World, taken: set[str]):
        self.rng, self.world, self.taken = rng, world, taken
        self.words = sorted({w.lower() for w in [c.name for c in world.cities] + world.rivers
                             + [p.name.split()[0] for p in world.people] + [s.name for s in world.species]})

    def word(self) -> str:
        return self.rng.choice(self.words)

    def fresh(self, make) -> str:
        for _ in range(1000):
            name = make()
            if name not in self.taken:
                self.taken.add(name)
                return name
        raise RuntimeError("no fresh identifier")       # pragma: no cover - the vocabulary is far larger

    # ---- files --------------------------------------------------------------------------------------------------

    def constants(self, repo: Repo) -> str:
        rng, nouns = self.rng, THEMES[repo.theme]
        lines = [f'"""Constants of {repo.pkg}: every limit and table of the {repo.theme} tools lives here."""', ""]
        for _ in range(rng.randint(8, 16)):
            name = self.fresh(lambda: f"{rng.choice(QUALIFIERS)}_{rng.choice(nouns)}_{self.word()}".upper())
            kind = rng.random()
            value: int | float | str
            if kind < 0.6:
                value = rng.randint(2, 99999)
            elif kind < 0.8:
                value = round(rng.uniform(0.01, 9.99), 2)
            else:
                value = rng.choice(self.world.cities).name
            repo.consts[name] = value
            lines.append(f"{name} = {value!r}")
        lines.append("")
        for _ in range(rng.randint(1, 3)):
            name = self.fresh(lambda: f"{rng.choice(nouns)}_{rng.choice(['codes', 'limits', 'weights', 'ids'])}"
                                      f"_{self.word()}".upper())
            keys = rng.sample([c.name for c in self.world.cities] + [p.name for p in self.world.people],
                              rng.randint(5, 12))
            repo.tables[name] = {k: rng.randint(10, 9999) for k in keys}
            body = "".join(f"    {k!r}: {v},\n" for k, v in repo.tables[name].items())
            lines.append(f"{name} = {{\n{body}}}\n")
        return "\n".join(lines) + "\n"

    def models(self, repo: Repo) -> str:
        rng, nouns = self.rng, THEMES[repo.theme]
        out = [f'"""Data classes of {repo.pkg}."""', "",
               f"from {repo.pkg}.constants import " + ", ".join(sorted(self._pick_consts(repo, 3, numeric=True))), ""]
        consts = out[2].split(" import ")[1].split(", ")
        for _ in range(rng.randint(2, 4)):
            name = self.fresh(lambda: self.word().capitalize() + rng.choice(nouns).capitalize())
            params = rng.sample(["name", "size", "count", "weight", "code", "level", "length", "owner"],
                                rng.randint(2, 3))
            defaults = [(a, rng.randint(1, 500)) for a in rng.sample(
                [f"{q}_{n}" for q in QUALIFIERS for n in nouns], rng.randint(1, 2))]
            k = Klass("models", name, params, defaults)
            repo.classes.append(k)
            sig = ", ".join(["self"] + params + [f"{a}={v}" for a, v in defaults])
            method = self.fresh(lambda: f"{rng.choice(VERBS)}_{rng.choice(nouns)}")
            out += [f"class {name}:", f'    """A {rng.choice(nouns)} record. {rng.choice(PROSE)}"""', "",
                    f"    def __init__({sig}):"]
            out += [f"        self.{p} = {p}" for p in params + [a for a, _ in defaults]]
            out += ["", f"    def {method}(self, factor=1):",
                    f"        return self.{defaults[0][0]} * factor + {rng.choice(consts)}", "", ""]
        return "\n".join(out).rstrip() + "\n"

    def _pick_consts(self, repo: Repo, n: int, numeric: bool = False) -> list[str]:
        names = [k for k, v in repo.consts.items() if not numeric or isinstance(v, (int, float))]
        return self.rng.sample(names, min(n, len(names)))

    def _call(self, f: Func, local: list[str]) -> str:
        args = [self.rng.choice(local) if local and self.rng.random() < 0.7 else str(self.rng.randint(1, 99))
                for _ in f.params]
        for kw, default in f.kwargs:
            if self.rng.random() < 0.5:
                args.append(f"{kw}={self.rng.choice([default, self.rng.randint(1, 999)])}")
        return f"{f.name}({', '.join(args)})"

    def module(self, repo: Repo, path_name: str) -> str:
        rng, nouns = self.rng, THEMES[repo.theme]
        earlier = sorted({f.module for f in repo.funcs})
        imp_funcs: list[Func] = []
        for mod in rng.sample(earlier, min(len(earlier), rng.randint(1, 3))):
            cands = [f for f in repo.funcs if f.module == mod]
            imp_funcs += rng.sample(cands, min(len(cands), rng.randint(1, 3)))
        consts = self._pick_consts(repo, rng.randint(2, 4), numeric=True)
        tables = rng.sample(sorted(repo.tables), 1)
        klass = rng.choice(repo.classes)
        lines = [f'"""{path_name.replace("_", " ").capitalize()} for {repo.pkg}. {rng.choice(PROSE)}"""', "",
                 f"from {repo.pkg}.constants import {', '.join(sorted(consts + tables))}",
                 f"from {repo.pkg}.models import {klass.name}"]
        for mod in sorted({f.module for f in imp_funcs}):
            names = sorted(f.name for f in imp_funcs if f.module == mod)
            lines.append(f"from {repo.pkg}.{mod} import {', '.join(names)}")
        lines.append("")
        new: list[Func] = []
        for _ in range(rng.randint(3, 7)):
            name = self.fresh(lambda: f"{rng.choice(VERBS)}_{rng.choice(nouns)}_{self.word()}")
            params = rng.sample(["amount", "items", "limit", "start", "stop", "weight", "count", "offset"],
                                rng.randint(1, 3))
            kwargs = [(a, rng.randint(1, 999)) for a in rng.sample(
                [f"{q}_{n}" for q in QUALIFIERS for n in nouns if f"{q}_{n}" not in params], rng.randint(0, 2))]
            f = Func(path_name, name, params, kwargs)
            sig = ", ".join(params + [f"{a}={v}" for a, v in kwargs])
            local = list(params) + [a for a, _ in kwargs]
            body = []
            for i in range(rng.randint(2, 5)):
                var = f"{rng.choice(['total', 'part', 'step', 'acc', 'value'])}_{i}"
                r = rng.random()
                if r < 0.35 and (imp_funcs or new):
                    callee = rng.choice(imp_funcs + new) if imp_funcs and rng.random() < 0.8 else rng.choice(
                        new or imp_funcs)
                    body.append(f"    {var} = {self._call(callee, local)}")
                elif r < 0.55:
                    args = [rng.choice(local) for _ in klass.params]
                    kw = ", ".join(args + ([f"{klass.defaults[0][0]}={rng.randint(1, 500)}"] if rng.random() < 0.5
                                          else []))
                    body.append(f"    {var} = {klass.name}({kw}).{klass.defaults[-1][0]}")
                elif r < 0.75:
                    key = rng.choice(sorted(repo.tables[tables[0]]))
                    body.append(f"    {var} = {tables[0]}[{key!r}] + {rng.choice(local)}")
                else:
                    body.append(f"    {var} = {rng.choice(local)} * {rng.choice(consts)}")
                local.append(var)
            body.append(f"    if {local[-1]} > {rng.choice(consts)}:")
            body.append(f"        return {rng.choice(consts)}")
            body.append(f"    return {local[-1]}")
            lines += [f"def {name}({sig}):", f'    """{rng.choice(PROSE)}"""'] + body + ["", ""]
            new.append(f)
        repo.funcs += new
        return "\n".join(lines).rstrip() + "\n"

    def tests(self, repo: Repo) -> str:
        rng = self.rng
        consts = sorted(rng.sample(sorted(repo.consts), min(len(repo.consts), rng.randint(4, 8))))
        tables = sorted(repo.tables)
        early = [f for f in repo.funcs if f.module in {g.module for g in repo.funcs[:12]}]
        funcs = rng.sample(early, min(len(early), rng.randint(3, 6)))
        lines = [f'"""Tests of {repo.pkg}: the documented values must not change."""', "",
                 f"from {repo.pkg}.constants import {', '.join(consts + tables)}",
                 f"from {repo.pkg}.models import {', '.join(k.name for k in repo.classes)}"]
        for mod in sorted({f.module for f in funcs}):
            lines.append(f"from {repo.pkg}.{mod} import {', '.join(sorted(f.name for f in funcs if f.module == mod))}")
        lines += ["", "", "def test_constants():"] + [f"    assert {c} == {repo.consts[c]!r}" for c in consts]
        lines += ["", "", "def test_tables():"]
        for t in tables:
            for k in rng.sample(sorted(repo.tables[t]), min(3, len(repo.tables[t]))):
                lines.append(f"    assert {t}[{k!r}] == {repo.tables[t][k]}")
        lines += ["", "", "def test_models():"]
        for k in repo.classes:
            args = [str(rng.randint(1, 50)) for _ in k.params]
            lines.append(f"    item = {k.name}({', '.join(args)})")
            lines += [f"    assert item.{p} == {a}" for p, a in zip(k.params, args)]
            lines += [f"    assert item.{a} == {v}" for a, v in k.defaults]
        for f in funcs:
            lines += ["", "", f"def test_{f.name}():",
                      f"    assert {self._call(f, [])} is not None"]
        return "\n".join(lines) + "\n"

    def readme(self, repo: Repo) -> str:
        rng = self.rng
        f = repo.funcs[0]
        k = repo.classes[0]
        c = rng.choice(sorted(repo.consts))
        t = rng.choice(sorted(repo.tables))
        key = rng.choice(sorted(repo.tables[t]))
        sig = ", ".join(f.params + [f"{a}={v}" for a, v in f.kwargs])
        ksig = ", ".join(k.params + [f"{a}={v}" for a, v in k.defaults])
        return (f"# {repo.pkg}\n\nSmall tools for {repo.theme} records.\n\n## Usage\n\n```python\n"
                f"from {repo.pkg}.{f.module} import {f.name}\nfrom {repo.pkg}.models import {k.name}\n\n"
                f"{self._call(f, [])}\nitem = {k.name}({', '.join(str(rng.randint(1, 9)) for _ in k.params)})\n```\n\n"
                f"`{f.name}({sig})` lives in `{repo.pkg}/{f.module}.py`; `{k.name}({ksig})` in `{repo.pkg}/models.py`."
                f"\n\n## Configuration\n\n`{c}` is `{repo.consts[c]!r}` and `{t}[{key!r}]` is {repo.tables[t][key]} "
                f"(see `{repo.pkg}/constants.py`).\n")


def make_repo(rng: random.Random, world: World, target_chars: int,
              taken: set[str] | None = None) -> tuple[str, list[tuple[str, str]]]:
    """(package name, [(path, text)]) of one repository of about `target_chars` characters (tests and README last);
    `taken`: package names already used (the new one is added)."""
    gen = _Gen(rng, world, taken if taken is not None else set())
    theme = rng.choice(sorted(THEMES))
    pkg = gen.fresh(lambda: f"{gen.word()}_{theme}")
    gen.taken = {pkg}                                        # identifiers are unique within the repo
    repo = Repo(pkg, theme)
    repo.files.append((f"{pkg}/__init__.py", f'"""{pkg}: tools for {theme} records in the tiny world."""\n\n'
                                             f'__version__ = "{rng.randint(0, 3)}.{rng.randint(0, 20)}.'
                                             f'{rng.randint(0, 9)}"\n'))
    repo.files.append((f"{pkg}/constants.py", gen.constants(repo)))
    repo.files.append((f"{pkg}/models.py", gen.models(repo)))
    reserve = 3000 + 60 * len(repo.consts)                   # room for the tests and the README
    n_modules = 0
    while True:
        mod = gen.fresh(lambda: f"{rng.choice(VERBS)}_{gen.word()}")
        text = gen.module(repo, mod)
        if n_modules >= 2 and repo.size() + len(text) + reserve > target_chars:
            repo.funcs = [f for f in repo.funcs if f.module != mod]      # drop the module that does not fit
            break
        repo.files.append((f"{pkg}/{mod}.py", text))
        n_modules += 1
    repo.files.append((f"tests/test_{pkg}.py", gen.tests(repo)))
    repo.files.append(("README.md", gen.readme(repo)))
    return pkg, repo.files


def code_repo_documents(total_bytes: int, repo_bytes: int, seed: int, world: World,
                        min_chars: int = 8000) -> Iterator[tuple[str, str]]:
    """(repo name, document) of generated repositories until `total_bytes`; sizes log-uniform from `min_chars` to
    four times `repo_bytes`, capped at `repo_bytes` (about a third of the repos sit at the cap, as real ones exceed
    it: median ~80K characters, like the stdlib packages this source replaced)."""
    rng = random.Random(f"code_repos-{seed}")
    taken: set[str] = set()
    size = 0
    while size < total_bytes:
        lo = min(min_chars, repo_bytes)
        target = min(int(math.exp(rng.uniform(math.log(lo), math.log(4 * repo_bytes)))), repo_bytes)
        name, files = make_repo(rng, world, target, taken)
        doc = repo_document(files, max_bytes=repo_bytes)
        yield name, doc
        size += len(doc)
