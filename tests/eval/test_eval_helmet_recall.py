"""Recall as HELMET and RULER write it: lost-in-the-middle's JSON KV layout, HELMET's released json_kv files taking
precedence, RULER's needle wording and gold positions, the MV haystack from an essay file."""

from __future__ import annotations

import json
import random
from collections import Counter

from prolong.eval import prompts as P
from prolong.eval.tasks import recall
from prolong.eval.tasks.base import hf_shuffle_select


def lost_in_the_middle_kv(pairs):
    """lost_in_the_middle/prompting.py get_kv_retrieval_prompt's record formatting, as written there."""
    formatted = ""
    for index, record in enumerate(pairs):
        start = "{" if index == 0 else " "
        end = ",\n" if index != len(pairs) - 1 else "}"
        formatted += start + f'"{record[0]}": "{record[1]}"' + end
    return formatted


def test_json_kv_layout_is_lost_in_the_middle():
    pairs = [(f"k{i}", f"v{i}") for i in range(5)]
    assert recall.json_kv_context(pairs) == "JSON data:\n" + lost_in_the_middle_kv(pairs)
    fields, gold = recall.json_kv_fields(7, random.Random(3), 5)  # depth 1.0: the last pair
    assert fields["context"].endswith(f'"{gold}"}}') and fields["question"].startswith('"')
    assert fields["question"].strip('"') in fields["context"]
    assert fields["context"].count(",\n ") == 6  # every pair after the first starts with a space
    # HELMET's demo template "Key: {key}\nCorresponding value:{value}" with value=" " + value
    assert recall.json_kv_demos([("a", "b"), ("c", "d")]) == ("Key: a\nCorresponding value:" + " b" + "\n\n"
                                                              + "Key: c\nCorresponding value:" + " d" + "\n\n")


def test_helmet_json_kv_file_takes_precedence(tmp_path, bpe_tokenizer):
    rows = []
    rng = random.Random(0)
    for i in range(8):
        pairs = [(str(rng.getrandbits(64)), str(rng.getrandbits(64))) for _ in range(4)]
        rows.append({"context": recall.json_kv_context(pairs), "question": f'"{pairs[i % 4][0]}"',
                     "answer": pairs[i % 4][1], "demos": [list(p) for p in pairs[:3]], "num_kvs": 4})
    (tmp_path / "json_kv").mkdir()
    (tmp_path / "json_kv" / "test_k105_dep6.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    spec, items = recall.json_kv(None, 8192, 5, seed=42, shots=2, data_dir=tmp_path)
    ref = hf_shuffle_select(rows, 5, 42)  # HELMET: data.shuffle(seed=seed).select(range(n))
    assert [it.fields["question"] for it in items] == [r["question"] for r in ref]
    for it, r in zip(items, ref):
        assert it.answers == [r["answer"]] and it.fields["context"] == r["context"]
        demos = "\n\n".join(f"Key: {k}\nCorresponding value: {v}" for k, v in r["demos"][:2]) + "\n\n"
        assert it.fields["demos"] == demos
        text, _ = P.format_prompt(None, spec.user_template, spec.prefix_template, it.fields, False)
        assert text == (r["context"] + "\n\nExtract the value corresponding to the specified key in the JSON object "
                        "below.\n\n" + demos + "Key: " + r["question"] + "\nCorresponding value:")
    # no file for 16K: generated
    _, gen = recall.json_kv(bpe_tokenizer, 16384, 2, count=10, data_dir=tmp_path)
    assert gen[0].extra["num_kvs"] == 10


def test_ruler_wording_plural_needles_singular_question():
    for kind, plural, singular in (("mk_needle", "numbers", "number"), ("mk_uuid", "uuids", "uuid")):
        fields, answers = recall.needles_fields(kind, 30, random.Random(1), 0)
        lines = fields["context"].split("\n")
        assert len(lines) == 31 and all(l.startswith(f"One of the special magic {plural} for ") for l in lines)
        assert f"One of the special magic {plural} for {fields['query']} is: {answers[0]}." in lines
        assert fields["type_needle_v"] == singular
        text, _ = P.format_prompt(None, P.RULER_NIAH_USER, P.RULER_NIAH_PREFIX, fields, False)
        assert text.startswith(f"A special magic {singular} is hidden within the following text.")
        assert text.endswith(f"The special magic {singular} for {fields['query']} mentioned in the provided text is")
    fields, answers = recall.needles_fields("mv", 60, random.Random(1), 0)
    assert fields["type_needle_v"] == "numbers" and len(answers) == 4
    for v in answers:
        assert f"One of the special magic numbers for {fields['query']} is: {v}." in fields["context"]


def test_ruler_gold_positions_are_drawn_as_ruler_draws_them():
    # MK: the gold needle at random.sample(range(n), 1): uniform over the haystack's n positions, not cycled depths
    pos = Counter()
    for s in range(600):
        fields, answers = recall.needles_fields("mk_needle", 9, random.Random(s), s)
        pos[[i for i, l in enumerate(fields["context"].split("\n")) if answers[0] in l][0]] += 1
    assert set(pos) == set(range(9)) and min(pos.values()) > 600 / 9 * 0.6  # index n is never drawn
    # MV: 4 of RULER's 40 depths (np.round(np.linspace(0, 100, 40))), sorted, at sentence boundaries
    assert recall.RULER_DEPTHS[:4] == [0, 3, 5, 8] and recall.RULER_DEPTHS[-1] == 100 and len(recall.RULER_DEPTHS) == 40
    fields, answers = recall.needles_fields("mv", 200, random.Random(4), 0)
    needle_sents = [s for s in recall.split_sentences(fields["context"]) if s.startswith("One of the special")]
    assert len(needle_sents) == 4


def test_ruler_mv_haystack_from_an_essay_file(tmp_path, bpe_tokenizer):
    rng = random.Random(0)
    essay = " ".join(f"Essay sentence {i} tells of the {rng.choice(['sea', 'hill', 'town'])}.\n\n" for i in range(900))
    path = tmp_path / "PaulGrahamEssays.json"
    path.write_text(json.dumps({"text": essay}))
    words = recall.read_essay(path)
    assert words[:4] == ["Essay", "sentence", "0", "tells"]  # white space collapsed, split at spaces (RULER)
    spec, items = recall.ruler("ruler_mv", bpe_tokenizer, 2048, 3, essay=words)
    for it in items:
        assert it.fields["context"].startswith("Essay sentence 0") or it.fields["context"].startswith("One of")
        assert all(a in it.fields["context"] for a in it.answers)
        assert "Essay sentence 1 " in it.fields["context"] and "Every morning" not in it.fields["context"]
