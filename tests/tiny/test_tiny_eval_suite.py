"""The tiny evaluation suite: deterministic, and about the world's held-out people (one Person, seen as a Profile)."""

from prolong.tiny.eval_suite import profiles, write_tiny_suite
from prolong.tiny.world import make_world


def test_suite_is_deterministic(tmp_path):
    a = write_tiny_suite(tmp_path / "a", n_items=6, n_sent=200, ppl_docs=1, ppl_words=500)
    b = write_tiny_suite(tmp_path / "b", n_items=6, n_sent=200, ppl_docs=1, ppl_words=500)
    assert (a / "rag" / "nq.jsonl").read_text() == (b / "rag" / "nq.jsonl").read_text()


def test_profiles_are_the_worlds_people():
    people, cast = make_world(0).heldout_people, profiles(0, n=10)
    assert [c.person for c in cast] == people[:10]
    train = profiles(0, n=10, heldout=False)  # the SFT data's: training names, attributes drawn per draw
    assert {c.name for c in train} <= {p.name for p in make_world(0).people}
    assert [c.person for c in train] != [c.person for c in profiles(0, n=10, heldout=False, draw=1)]
    p = cast[0]
    assert p.person.pet == f"a {p.pet} named {p.person.pet.split()[-1]}" and p.job == p.person.occupation
    assert p.friend in {c.name for c in cast} - {p.name}
    assert p.facts()["pet"] == f"{p.name} has a pet {p.pet}."
