"""ICL: many-shot classification (TREC coarse/fine, NLU, Banking77, Clinc150), HELMET's `load_icl`.

Files: `<name>_train.jsonl` and `<name>_test.jsonl`, one {"text": str, "label": int | str} per line. Integer labels
are class ids; string labels get ids in sorted order. For every test item, label names are replaced by integers
shuffled with a seed derived from the item's text (sha256 + seed), and the demonstrations are label-balanced
(round robin over labels, shuffled within each round), exactly as HELMET's `balance_labels`.
"""

from __future__ import annotations

import math
import random
from pathlib import Path

from prolong.eval import prompts as P
from prolong.eval.metrics import calculate_metrics, parse_output
from prolong.eval.tasks.base import EvalItem, TaskSpec, stable_seed
from prolong.eval.tasks.common import choose_count, read_jsonl

ICL_DATASETS = ("icl_trec_coarse", "icl_trec_fine", "icl_nlu", "icl_banking77", "icl_clinc150")


def balance_labels(data: list[dict], shots: int, seed: int) -> list[dict]:
    """HELMET's balance_labels: `ceil(shots / n_labels)` rounds, one sample of each label per round (in a shuffled
    order), concatenated and cut at `shots`."""
    rand = random.Random(seed)
    by_label: dict = {}
    for x in data:
        by_label.setdefault(x["label"], []).append(x)
    rounds = math.ceil(shots / len(by_label))
    new = [[] for _ in range(rounds)]
    for _, samples in by_label.items():
        idx = rand.sample(range(len(samples)), rounds % len(samples))
        while len(idx) < rounds:  # with replacement only when a label has fewer samples than rounds
            idx += rand.sample(range(len(samples)), min(rounds - len(idx), len(samples)))
        for i, j in enumerate(idx):
            new[i].append(samples[j])
    for r in new:
        rand.shuffle(r)
    return [x for r in new for x in r][:shots]


def label_ids(rows: list[dict]) -> tuple[list[dict], int]:
    """Rows with integer labels and the number of labels."""
    labels = [r["label"] for r in rows]
    if all(isinstance(l, int) for l in labels):
        return rows, max(labels) + 1
    names = sorted({str(l) for l in labels})
    ix = {n: i for i, n in enumerate(names)}
    return [{**r, "label": ix[str(r["label"])]} for r in rows], len(names)


def icl_item(text: str, label: int, train: list[dict], shots: int, num_labels: int, seed: int) -> tuple[str, str]:
    """(context of demonstrations, gold answer) for one test item."""
    local = (stable_seed(text) + seed) % 2**31
    demos = balance_labels(train, shots, local)
    mapping = list(range(num_labels))
    random.Random(local).shuffle(mapping)
    context = "\n\n".join(P.ICL_ITEM.format(text=d["text"], label=str(mapping[d["label"]])) for d in demos)
    return context, str(mapping[label])


def _score(output: str, item: EvalItem):
    parsed = parse_output(output, P.ICL_PREFIX)
    return calculate_metrics(parsed or "", item.answers, with_rouge=False), parsed


def icl(name: str, data_dir: str | Path, tokenizer, length: int, num_samples: int | None, seed: int = 42,
        max_new_tokens: int = 20, count: int | None = None) -> tuple[TaskSpec, list[EvalItem]]:
    data_dir = Path(data_dir)
    train_raw = read_jsonl(data_dir / f"{name}_train.jsonl")
    test_raw = read_jsonl(data_dir / f"{name}_test.jsonl")
    both, num_labels = label_ids(train_raw + test_raw)
    train, test = both[: len(train_raw)], both[len(train_raw):]
    if num_samples is not None and len(test) > num_samples:
        random.Random(seed).shuffle(test)
        test = balance_labels(test, num_samples, seed)  # HELMET also balances the test labels
    spec = TaskSpec(name, "ICL", P.ICL_USER, P.ICL_PREFIX, max_new_tokens, "exact_match", _score,
                    stop_newline=True)
    first = test[0]
    shots = choose_count(tokenizer, spec, length, count, 1 << 16,
                         lambda k: {"context": icl_item(first["text"], first["label"], train, k, num_labels, seed)[0],
                                    "question": first["text"]})
    items = []
    for r in test:
        context, answer = icl_item(r["text"], r["label"], train, shots, num_labels, seed)
        items.append(EvalItem({"context": context, "question": r["text"]}, answer, {"shots": shots}))
    return spec, items
