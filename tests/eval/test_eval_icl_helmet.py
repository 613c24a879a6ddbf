"""The ICL items are HELMET's: prolong.eval.tasks.icl against a re-implementation of HELMET's `load_icl` (data.py,
the `*shot_balance` datasets) written here from its source, on fixtures in HELMET's format (HF rows of text and
ClassLabel id, exported in the split's row order)."""

from __future__ import annotations

import hashlib
import json
import math
import random
from collections import Counter

import pytest

from prolong.eval import prompts as P
from prolong.eval.tasks import icl
from prolong.eval.words import ADJECTIVES, NOUNS, PLACES, essay_sentence


# ---- HELMET's procedure, as data.py's load_icl writes it ---------------------------------------------------------
def helmet_balance_labels(data, shots, seed, label_field="label"):
    rand = random.Random(seed)
    label_mapping = {x[label_field]: [] for x in data}  # labels in order of first appearance
    for x in data:
        label_mapping[x[label_field]].append(x)
    num_rounds = math.ceil(shots / len(label_mapping))
    new_data = [[] for _ in range(num_rounds)]
    for _, samples in label_mapping.items():
        indices = rand.sample(range(len(samples)), num_rounds % len(samples))
        while len(indices) < num_rounds:
            indices += rand.sample(range(len(samples)), min(num_rounds - len(indices), len(samples)))
        for i, idx in enumerate(indices):
            new_data[i].append(samples[idx])
    for i in range(len(new_data)):
        rand.shuffle(new_data[i])
    return [item for sublist in new_data for item in sublist][:shots]


def helmet_load_icl(train, test, shot, num_labels, max_test_sample, seed):
    """HELMET's items: {context, question, answer} per test sample, plus the demos it drew (for the checks)."""
    from datasets import Dataset

    if max_test_sample is not None and len(test) > max_test_sample:
        shuffled = Dataset.from_list(test).shuffle(seed=seed)
        test = helmet_balance_labels(list(shuffled), max_test_sample, seed)
    state = random.getstate()  # HELMET reseeds the global generator per item; leave it as found
    out = []
    try:
        for sample in test:
            local_seed = (int(hashlib.sha256(sample["text"].encode("utf-8")).hexdigest(), 16) + seed) % 2**31
            demos = helmet_balance_labels(train, shot, local_seed)
            label_mapping = list(range(num_labels))
            random.seed(local_seed)
            random.shuffle(label_mapping)
            item_template = "{text}\nlabel: {label}"
            context = "\n\n".join(item_template.format(text=d["text"], label=str(label_mapping[int(d["label"])]))
                                  for d in demos)
            out.append({"context": context, "question": sample["text"],
                        "answer": str(label_mapping[int(sample["label"])]), "demos": demos})
    finally:
        random.setstate(state)
    return out


# ---- fixtures in HELMET's format ----------------------------------------------------------------------------------
def _rows(n: int, num_labels: int, rng: random.Random, rare: int | None = None) -> list[dict]:
    """Rows of {"text", "label"}: labels skewed (label 0 frequent), `rare` (if given) kept to 3 rows, texts of
    varying length (one to four sentences) so that demo sets differ in tokens."""
    rows, seen = [], set()
    while len(rows) < n:
        label = 0 if rng.random() < 0.2 else rng.randrange(num_labels)
        if label == rare and sum(r["label"] == rare for r in rows) >= 3:
            continue
        text = " ".join(essay_sentence(rng) for _ in range(rng.randint(1, 4)))
        text += f" {rng.choice(NOUNS)} {rng.choice(ADJECTIVES)} {rng.choice(PLACES)} {len(rows)}"
        if text not in seen:  # HELMET's seeds are per text: distinct texts, as in the real splits
            seen.add(text)
            rows.append({"text": text, "label": label})
    return rows


def _write(tmp_path, name: str, train: list[dict], test: list[dict]):
    for split, rows in (("train", train), ("test", test)):
        (tmp_path / f"{name}_{split}.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


def _check_against_helmet(spec, items, ref, shots):
    assert len(items) == len(ref)
    for it, r in zip(items, ref):
        assert it.fields == {"context": r["context"], "question": r["question"]}
        assert it.answers == r["answer"] and it.extra["shots"] == shots
        text, _ = P.format_prompt(None, spec.user_template, spec.prefix_template, it.fields, False, spec.sep)
        # HELMET's prompt_template: user_template + "\n" + system_template, filled in
        assert text == ("Use the provided mapping from the text to label to assign a label to the text. Only output "
                        "\"label: {label}\" and nothing else. \n\n" + r["context"] + "\n\n" + r["question"]
                        + "\nlabel:")


def test_small_test_split_every_item_draws_its_own_balanced_demos(tmp_path):
    rng = random.Random(3)
    train, test = _rows(150, 6, rng, rare=5), _rows(40, 6, rng)
    _write(tmp_path, "icl_trec_coarse", train, test)
    shots = 30  # 5 rounds of the 6 labels; label 5 has 3 rows: drawn with replacement
    spec, items = icl.icl("icl_trec_coarse", tmp_path, None, 4096, 500, seed=42, count=shots)
    ref = helmet_load_icl(train, test, shots, 6, 500, seed=42)
    _check_against_helmet(spec, items, ref, shots)
    assert [it.fields["question"] for it in items] == [r["text"] for r in test]  # <= n: whole split, file order
    # per item: its own demo set, label-balanced (5 of each label), in rounds of one per label
    demo_sets = [tuple(d["text"] for d in r["demos"]) for r in ref]
    assert len(set(demo_sets)) == len(demo_sets)
    for r in ref:
        assert Counter(d["label"] for d in r["demos"]) == {lab: 5 for lab in range(6)}
        assert all({d["label"] for d in r["demos"][i: i + 6]} == set(range(6)) for i in range(0, shots, 6))
    # the seeds: sha256(text) + seed; another global seed gives other demos and mappings
    first = test[0]["text"]
    seed0 = (int(hashlib.sha256(first.encode("utf-8")).hexdigest(), 16) + 42) % 2**31
    assert icl.local_seed(first, 42) == seed0
    assert icl.item_demos(icl.label_ids(train, 6)[0], shots, first, 42) == ref[0]["demos"]
    _, other = icl.icl("icl_trec_coarse", tmp_path, None, 4096, 500, seed=7, count=shots)
    assert sum(a.fields != b.fields for a, b in zip(items, other)) >= len(items) - 1


@pytest.mark.parametrize("n_test,n_labels,n", [(1200, 77, 500), (260, 20, 90)])
def test_large_test_split_is_shuffled_then_label_balanced(tmp_path, n_test, n_labels, n):
    rng = random.Random(n_test)
    train, test = _rows(4 * n_labels, n_labels, rng), _rows(n_test, n_labels, rng)
    _write(tmp_path, "icl_banking77", train, test)
    shots = 2 * n_labels
    spec, items = icl.icl("icl_banking77", tmp_path, None, 8192, n, seed=42, count=shots)
    ref = helmet_load_icl(train, test, shots, 77, n, seed=42)  # Banking77's num_labels: 77
    _check_against_helmet(spec, items, ref, shots)
    # balanced over the labels the split has: rounds of one item per label, the last round cut at n
    labels = Counter(r["label"] for r in (icl.select_test(test, n, 42)))
    present = {r["label"] for r in test}
    rounds = math.ceil(n / len(present))
    assert len(items) == n and set(labels) == present
    assert max(labels.values()) == rounds and min(labels.values()) >= rounds - 1
    # a plain shuffle-and-select would not be balanced (label 0 is a fifth of the split)
    from prolong.eval.tasks.base import hf_shuffle_select

    assert Counter(r["label"] for r in hf_shuffle_select(test, n, 42))[0] > rounds + 2


def test_sized_by_search_every_prompt_fits_the_budget(tmp_path, bpe_tokenizer):
    rng = random.Random(5)
    train, test = _rows(300, 6, rng), _rows(12, 6, rng)
    _write(tmp_path, "icl_trec_coarse", train, test)
    for length in (1024, 2048):
        spec, items = icl.icl("icl_trec_coarse", tmp_path, bpe_tokenizer, length, 500, seed=42)
        budget = length - spec.max_new_tokens
        shots = [it.extra["shots"] for it in items]
        for it in items:
            ids, fields = P.build_input_ids(bpe_tokenizer, spec.user_template, spec.prefix_template, it.fields,
                                            spec.chat, budget, spec.sep)
            assert len(ids) <= budget and fields == it.fields  # nothing for the runner to cut
            assert len(ids) >= 0.8 * budget
            # the item's demos are HELMET's for its shot count (fewer shots only when its own demos overshoot)
            ref = helmet_load_icl(train, [t for t in test if t["text"] == it.fields["question"]],
                                  it.extra["shots"], 6, 500, 42)[0]
            assert it.fields["context"] == ref["context"] and it.answers == ref["answer"]
        # sized on item 0; the items whose own demos overshoot get fewer shots (here some do, at both lengths)
        assert max(shots) == shots[0] and min(shots) < shots[0]
        assert len({it.fields["context"] for it in items}) == len(items)
