"""The tiny books: stories whose cast is introduced over the first chapters and recalled throughout (the long-range
structure that makes books good long data in the paper). Training books draw their cast from the training people;
the evaluation's PPL books (prolong.tiny.eval_suite) from the held-out people.
"""

from __future__ import annotations

import random

from prolong.tiny.skills import ATTRIBUTES, question
from prolong.tiny.world import Person, World, random_person

_TIME = ["In the morning", "Later that day", "At dusk", "The next week", "Before the rains came", "At midnight",
         "Early in spring", "When the harvest ended", "On the third day", "After a long silence"]
_ACTIONS = ["walked along the {river}", "visited the {landmark} of {city}", "wrote a letter to {other}",
            "argued with {other} about the price of {material}", "repaired an old boat", "read by the fire",
            "bought {material} at the market in {city}", "listened to {other} describe the roads to {city}",
            "watched the {species} gather near the water", "counted the days until the journey"]
_MOODS = ["quietly", "with some hesitation", "cheerfully", "without a word", "as if nothing had happened",
          "while the wind rose", "for the first time in years", "carefully"]


def _narrative(rng: random.Random, world: World, hero: str, n_sentences: int) -> str:
    out = []
    for _ in range(n_sentences):
        other = rng.choice(world.people).name
        city = rng.choice(world.cities)
        act = rng.choice(_ACTIONS).format(river=city.river, landmark=city.landmark, city=city.name, other=other,
                                          material=rng.choice(["copper", "salt", "linen", "cedar", "glass"]),
                                          species=rng.choice(world.species).name)
        who = rng.choice([hero, hero.split()[0], other])
        out.append(f"{rng.choice(_TIME)}, {who} {act} {rng.choice(_MOODS)}.")
    return " ".join(out)


def _recall(rng: random.Random, p: Person) -> str:
    """A sentence that uses one attribute of a cast member, stated chapters earlier (a long-range copy event)."""
    first, (animal, pet) = p.name.split()[0], p.pet.split()[1::2]
    return rng.choice([
        rng.choice([f"{first} went back to {p.city}, the city where {first} lived.",
                    f"Everyone in {p.city} knew {first}."]),
        rng.choice([f"{first} worked all day as a {p.occupation}.", f"As a {p.occupation}, {first} was busy."]),
        rng.choice([f"{first} walked with {pet} the {animal}.", f"{pet}, the {animal} of {first}, slept."]),
        rng.choice([f"{first} whispered the secret number {p.key_number} again.",
                    f"The secret number of {first} was still {p.key_number}."])])


def book_intro(p: Person) -> str:
    """How a book introduces a cast member (prolong.tiny.long_qa reads it back)."""
    first = p.name.split()[0]
    return (f"{p.name} lived in {p.city} and worked as a {p.occupation}. {first} had {p.pet}. The secret number "
            f"of {first} was {p.key_number}.")


def make_book(rng: random.Random, world: World, target_chars: int,
              people: list[Person] | None = None, pet_names: list[str] | None = None) -> str:
    """A story whose cast (6-10 people of `people`, default the training people, with attributes drawn for this
    book) is introduced over the first chapters and recalled throughout: about a third of the sentences use an
    attribute stated once, often thousands of tokens before, and each chapter ends with two questions. A
    (person, attribute) pair recurs every ~1-2K tokens, so predicting it needs context far beyond the base
    model's 256 tokens: the long-range dependency that makes books good long data."""
    pool = people or world.people
    members = [random_person(rng, p.name, world, pet_names) for p in rng.sample(pool, rng.randint(6, 10))]
    hero = members[0]
    title = f"The {rng.choice(['Long', 'Quiet', 'Lost', 'Distant', 'Winter'])} Road of {hero.name}"
    known = members[:3]
    parts = [f"# {title}\n\n## Chapter 1\n\n" + " ".join(book_intro(p) for p in known) + " "
             + _narrative(rng, world, hero.name, 4) + "\n\n"]
    size, chapter = len(parts[0]), 2
    while size < target_chars:
        lines = []
        if len(known) < len(members) and rng.random() < 0.5:
            known.append(members[len(known)])
            lines.append(book_intro(known[-1]))
        for _ in range(rng.randint(12, 24)):
            who = rng.choice(known)
            lines.append(_recall(rng, who) if rng.random() < 0.35 else _narrative(rng, world, who.name, 1))
        qa = []
        for p in rng.sample(known, min(2, len(known))):
            q, a = question(p, rng.choice(ATTRIBUTES))
            qa.append(f"Q: {q} A: {a}")
        text = (f"## Chapter {chapter}\n\n" + " ".join(lines) + "\n\nQuestions about the story.\n" + "\n".join(qa)
                + "\n\n")
        parts.append(text)
        size += len(text)
        chapter += 1
    return "".join(parts)
