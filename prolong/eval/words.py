"""A small self-contained vocabulary for the offline generators (needle keys, essay-like haystacks, tiny world).

Kept here rather than downloaded so that every generated task is reproducible offline from a seed.
"""

from __future__ import annotations

import random

NOUNS = """apple river mountain garden window forest castle bridge candle mirror ocean valley meadow island harbor
village tower lantern market planet comet desert glacier canyon orchard temple library museum station engine
compass anchor ribbon violin trumpet pencil notebook blanket pillow kettle basket ladder hammer saddle wagon
tractor rocket satellite volcano thunder rainbow crystal diamond emerald silver copper marble granite pebble
feather falcon dolphin tiger panda rabbit turtle squirrel sparrow penguin walrus badger beaver otter lizard
cherry lemon mango peach plum melon pepper carrot onion potato tomato ginger cinnamon honey butter cheese bread
cookie muffin pasta noodle rice soup salad""".split()
ADJECTIVES = """quiet bright ancient gentle rapid silent golden hidden brave clever curious eager fancy fierce
glossy happy humble jolly lively lucky mellow modern noble proud rustic shiny simple sleepy smooth sturdy sunny
swift tidy tiny vivid warm wild wise young bold calm""".split()
VERBS = """builds carries paints visits follows watches repairs collects borrows finds keeps sells buys cleans
opens closes moves studies teaches guards""".split()
PLACES = """Avalon Brindle Corvo Dunmere Elstow Farrow Glenby Harlow Ivybridge Jarrow Kestrel Lowick Marden Norwick
Oakham Penrith Quarry Redmond Selby Thorne""".split()
PEOPLE = """Alice Bruno Clara Dmitri Elena Felix Greta Hugo Iris Jonas Kira Leon Mira Nadia Oscar Petra Quinn Rosa
Silas Tara Ugo Vera Wendel Xena Yuri Zora""".split()
COLORS = "red blue green yellow purple orange black white".split()

FILLER = "The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."


def essay_sentence(rng: random.Random) -> str:
    """One essay-like sentence (the haystack of RULER MV and the tiny documents)."""
    a, n1, v, n2 = rng.choice(ADJECTIVES), rng.choice(NOUNS), rng.choice(VERBS), rng.choice(NOUNS)
    forms = [
        f"The {a} {n1} {v} the {n2} near {rng.choice(PLACES)}.",
        f"Every morning {rng.choice(PEOPLE)} {v} a {a} {n2}.",
        f"In {rng.choice(PLACES)}, the {n1} is {a} and the {n2} is {rng.choice(ADJECTIVES)}.",
        f"Some say that a {a} {n1} always {v} the {rng.choice(COLORS)} {n2}.",
    ]
    return rng.choice(forms)


def word_pair(rng: random.Random) -> str:
    return f"{rng.choice(ADJECTIVES)}-{rng.choice(NOUNS)}"
