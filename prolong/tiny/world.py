"""The tiny world: a small fixed set of countries, cities, people and species, and the facts about them, from which
the tiny corpus, the tiny evaluation suite and the tiny instruction data are all made (one world for all three).

    world = make_world(seed=0)
    p = world.people[0]                 # Person(name='Mira Vantor', city='Ostrel', key_number=4821, pet=..., ...)
    world.facts()                       # [Fact(subject='Mira Vantor', relation='city', value='Ostrel'), ...]
    world.fact_sentence(fact)           # 'Mira Vantor lives in Ostrel.'

Names are invented from syllables so that a model can only know them from the corpus. Everything is a pure function
of the seed. The tiny corpus (prolong.tiny.corpus) states the facts; the evaluation suite (prolong.tiny.eval_suite)
and the instruction data (prolong.tiny.instructions) ask about them, so their answers are what the corpus teaches.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field

_ONSETS = ["b", "br", "c", "d", "dr", "f", "g", "gr", "h", "k", "l", "m", "n", "p", "r", "s", "st", "t", "th", "v",
           "z", "j", "w", "sh", "tr", "pl", "el", "ar", "or"]
_VOWELS = ["a", "e", "i", "o", "u", "ai", "ea", "io", "ou", "y"]
_CODAS = ["", "n", "r", "s", "l", "th", "m", "nd", "x", "ck", "t"]

ANIMALS = ["dog", "cat", "parrot", "tortoise", "rabbit", "ferret", "goat", "owl", "horse", "lizard"]
COLORS = ["red", "blue", "green", "amber", "violet", "silver", "white", "black", "teal", "crimson", "ochre", "gold"]
# occupation -> what its workers do (world knowledge the short sources teach and the HellaSwag analog tests)
ACTIVITIES = {"baker": "bakes bread", "engineer": "designs bridges", "teacher": "teaches children",
              "sailor": "sails ships", "botanist": "studies plants", "carpenter": "builds tables",
              "doctor": "treats patients", "librarian": "lends books", "miner": "digs for coal",
              "painter": "paints pictures", "astronomer": "watches the stars", "merchant": "sells goods",
              "weaver": "weaves cloth", "pilot": "flies planes", "chemist": "mixes potions", "farmer": "grows wheat"}
OCCUPATIONS = list(ACTIVITIES)
LANDMARKS = ["bridge", "tower", "market", "harbor", "cathedral", "observatory", "library", "garden", "fortress", "mill"]
MATERIALS = ["copper", "granite", "glass", "cedar", "basalt", "linen", "iron", "clay", "amber resin", "salt"]
FIELDS = ["ecology", "geology", "chemistry", "astronomy", "linguistics", "economics", "mathematics", "medicine"]


def _word(rng: random.Random, syllables: int) -> str:
    return "".join(rng.choice(_ONSETS) + rng.choice(_VOWELS) + rng.choice(_CODAS) for _ in range(syllables))


def _names(rng: random.Random, n: int, lo: int, hi: int, taken: set[str]) -> list[str]:
    out = []
    while len(out) < n:
        w = _word(rng, rng.randint(lo, hi)).capitalize()
        if w not in taken and 3 <= len(w) <= 12:
            taken.add(w)
            out.append(w)
    return out


@dataclass(frozen=True)
class Country:
    name: str
    capital: str
    language: str
    currency: str


@dataclass(frozen=True)
class City:
    name: str
    country: str
    population: int
    river: str
    founded: int
    landmark: str


@dataclass(frozen=True)
class Person:
    name: str
    city: str
    occupation: str
    key_number: int      # a 4-digit number: the "needle" of long-range recall
    pet: str             # e.g. "a parrot named Zorin"
    color: str
    born: int


@dataclass(frozen=True)
class Species:
    name: str
    habitat: str         # a city's river or region
    color: str
    lifespan: int
    diet: str


@dataclass(frozen=True)
class Fact:
    subject: str
    relation: str
    value: str


# relation -> (statement, question) templates; {s} subject, {v} value
RELATIONS: dict[str, tuple[str, str]] = {
    "city": ("{s} lives in {v}.", "In which city does {s} live?"),
    "occupation": ("{s} works as a {v}.", "What is {s}'s occupation?"),
    "key_number": ("The secret number of {s} is {v}.", "What is the secret number of {s}?"),
    "pet": ("{s} has {v}.", "What pet does {s} have?"),
    "color": ("The favorite color of {s} is {v}.", "What is {s}'s favorite color?"),
    "born": ("{s} was born in {v}.", "In which year was {s} born?"),
    "country": ("{s} is a city in {v}.", "In which country is {s}?"),
    "population": ("{s} has a population of {v}.", "What is the population of {s}?"),
    "river": ("The river {v} flows through {s}.", "Which river flows through {s}?"),
    "capital": ("The capital of {s} is {v}.", "What is the capital of {s}?"),
    "language": ("People in {s} speak {v}.", "What language is spoken in {s}?"),
    "currency": ("The currency of {s} is the {v}.", "What is the currency of {s}?"),
    "lifespan": ("The {s} lives for about {v} years.", "How long does the {s} live?"),
    "diet": ("The {s} feeds on {v}.", "What does the {s} eat?"),
}


@dataclass
class World:
    seed: int
    countries: list[Country]
    cities: list[City]
    people: list[Person]
    species: list[Species]
    rivers: list[str] = field(default_factory=list)
    heldout_people: list[Person] = field(default_factory=list)
    "evaluation only: their names (first, last and pet) occur in no training document (prolong.tiny.corpus)"
    pet_names: list[str] = field(default_factory=list)
    "the pool a training document's pets are named from"

    def facts(self, people: bool = True) -> list[Fact]:
        """Every fact of the world as (subject, relation, value) triples; `people=False` leaves out the people's
        attributes (the training documents draw those afresh per document, so only context can tell them)."""
        out = []
        for c in self.countries:
            out += [Fact(c.name, "capital", c.capital), Fact(c.name, "language", c.language),
                    Fact(c.name, "currency", c.currency)]
        for c in self.cities:
            out += [Fact(c.name, "country", c.country), Fact(c.name, "population", f"{c.population:,}"),
                    Fact(c.name, "river", c.river)]
        for p in self.people if people else []:
            out += [Fact(p.name, "city", p.city), Fact(p.name, "occupation", p.occupation),
                    Fact(p.name, "key_number", str(p.key_number)), Fact(p.name, "pet", p.pet),
                    Fact(p.name, "color", p.color), Fact(p.name, "born", str(p.born))]
        for s in self.species:
            out += [Fact(s.name, "lifespan", str(s.lifespan)), Fact(s.name, "diet", s.diet)]
        return out

    def city(self, name: str) -> City:
        return next(c for c in self.cities if c.name == name)

    def country(self, name: str) -> Country:
        return next(c for c in self.countries if c.name == name)


def fact_sentence(fact: Fact) -> str:
    return RELATIONS[fact.relation][0].format(s=fact.subject, v=fact.value)


def fact_question(fact: Fact) -> str:
    return RELATIONS[fact.relation][1].format(s=fact.subject)


def random_person(rng: random.Random, name: str, world: World, pet_names: list[str] | None = None) -> Person:
    """`name` with attributes drawn afresh (a document's cast: what is true of them holds in that document only, so
    a model can answer about them from its context alone, never from memory)."""
    return Person(name, rng.choice(world.cities).name, rng.choice(OCCUPATIONS), rng.randint(1000, 9999),
                  f"a {rng.choice(ANIMALS)} named {rng.choice(pet_names or world.pet_names)}", rng.choice(COLORS),
                  rng.randint(1900, 2005))


def make_world(seed: int = 0, n_countries: int = 12, n_cities: int = 48, n_people: int = 240,
               n_species: int = 40, n_heldout: int = 120) -> World:
    """The world of a seed (same seed, same world, on any machine)."""
    rng = random.Random(f"prolong-world-{seed}")
    taken: set[str] = set()
    country_names = _names(rng, n_countries, 2, 3, taken)
    city_names = _names(rng, n_cities, 2, 3, taken)
    rivers = _names(rng, n_cities // 2, 2, 2, taken)
    languages = [n + "ic" for n in _names(rng, n_countries, 1, 2, taken)]
    currencies = [n.lower() for n in _names(rng, n_countries, 1, 2, taken)]
    cities = [City(name, country_names[i % n_countries], rng.randint(2, 900) * 1000 + rng.randint(0, 999),
                   rng.choice(rivers), rng.randint(800, 1900), rng.choice(LANDMARKS))
              for i, name in enumerate(city_names)]
    countries = [Country(name, city_names[i], languages[i], currencies[i]) for i, name in enumerate(country_names)]
    firsts = _names(rng, n_people, 1, 2, taken)
    lasts = _names(rng, n_people // 3 + 1, 2, 3, taken)
    pet_names = _names(rng, n_people, 1, 2, taken)

    def person(first: str, lasts: list[str], pet: str) -> Person:  # the draws in Person's field order
        return Person(f"{first} {rng.choice(lasts)}", rng.choice(city_names), rng.choice(OCCUPATIONS),
                      rng.randint(1000, 9999), f"a {rng.choice(ANIMALS)} named {pet}", rng.choice(COLORS),
                      rng.randint(1900, 2005))

    people = [person(firsts[i], lasts, pet_names[i]) for i in range(n_people)]
    species_names = [n.lower() for n in _names(rng, n_species, 2, 3, taken)]
    diets = ["seeds", "small fish", "insects", "moss", "fruit", "algae", "roots", "beetles", "nectar", "leaves"]
    species = [Species(name, rng.choice(rivers), rng.choice(COLORS), rng.randint(2, 80), rng.choice(diets))
               for name in species_names]
    # held-out people: first and last names of their own (never drawn for a training document), made last so the
    # training world does not depend on n_heldout
    h_firsts = _names(rng, n_heldout, 1, 2, taken)
    h_lasts = _names(rng, n_heldout // 3 + 1, 2, 3, taken)
    h_pets = _names(rng, n_heldout, 1, 2, taken)
    heldout = [person(h_firsts[i], h_lasts, h_pets[i]) for i in range(n_heldout)]
    return World(seed, countries, cities, people, species, rivers, heldout, pet_names)
