"""ICL: many-shot classification (TREC coarse/fine, NLU, Banking77, Clinc150), HELMET's `load_icl` (data.py).

Files: `<name>_train.jsonl` and `<name>_test.jsonl`, one {"text": str, "label": int | str} per line, in the row order
of the HF datasets HELMET loads (integer labels are the ClassLabel ids). As in HELMET (`*shot_balance` datasets):
- the demonstrations are label-balanced (`balance_labels`: rounds of one sample per label, shuffled within each
  round) drawn with `random.Random(seed)` from the *global* seed, so every test item sees the same demonstrations;
- label ids are replaced by a permutation of `range(num_labels)` shuffled with a per-item seed
  (sha256(text) + seed) mod 2**31;
- the test items are `test.shuffle(seed).select(range(n))` (HF datasets' permutation, no label balancing);
- the score is EM / F1 / SubEM of the output parsed after "label:" only (no raw-output scoring).
"""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import TYPE_CHECKING

from prolong.eval import prompts as P
from prolong.eval.categories import HELMET_CATEGORIES, ICL
from prolong.eval.metrics import calculate_metrics, parse_output
from prolong.eval.tasks.base import EvalItem, TaskSpec, hf_shuffle_select, stable_seed
from prolong.eval.tasks.common import choose_count, read_jsonl, table_count
from prolong.eval.tasks.registry import register

if TYPE_CHECKING:
    from prolong.eval.config import EvalConfig

ICL_DATASETS = tuple(HELMET_CATEGORIES[ICL])  # membership is defined once, in prolong.eval.categories
# HELMET's num_labels per dataset (the size of the label permutation, whatever labels the files happen to contain)
NUM_LABELS = {"icl_trec_coarse": 6, "icl_trec_fine": 50, "icl_nlu": 68, "icl_banking77": 77, "icl_clinc150": 151}


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


def label_ids(rows: list[dict], num_labels: int | None = None) -> tuple[list[dict], int]:
    """Rows with integer labels and the number of labels (HELMET's fixed count for integer labels when given)."""
    labels = [r["label"] for r in rows]
    if all(isinstance(l, int) for l in labels):
        return rows, max(num_labels or 0, max(labels) + 1)
    names = sorted({str(l) for l in labels})
    ix = {n: i for i, n in enumerate(names)}
    return [{**r, "label": ix[str(r["label"])]} for r in rows], len(names)


def label_mapping(text: str, num_labels: int, seed: int) -> list[int]:
    """HELMET: `random.seed(local_seed); random.shuffle(list(range(num_labels)))`, local_seed from the item's text."""
    mapping = list(range(num_labels))
    random.Random((stable_seed(text) + seed) % 2**31).shuffle(mapping)
    return mapping


def icl_item(text: str, label: int, demos: list[dict], num_labels: int, seed: int) -> tuple[str, str]:
    """(context of demonstrations, gold answer) for one test item; `demos` are shared by all items."""
    mapping = label_mapping(text, num_labels, seed)
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
    both, num_labels = label_ids(train_raw + test_raw, NUM_LABELS.get(name))
    train, test = both[: len(train_raw)], both[len(train_raw):]
    if num_samples is not None and len(test) > num_samples:
        test = hf_shuffle_select(test, num_samples, seed)  # HELMET: test_data.shuffle(seed=seed).select(range(n))
    spec = TaskSpec(name, ICL, P.ICL_USER, P.ICL_PREFIX, max_new_tokens, "exact_match", _score,
                    stop_newline=True)
    first = test[0]
    shots = choose_count(tokenizer, spec, length, count, 1 << 16,
                         lambda k: {"context": icl_item(first["text"], first["label"], balance_labels(train, k, seed),
                                                        num_labels, seed)[0],
                                    "question": first["text"]})
    demos = balance_labels(train, shots, seed)  # HELMET seeds balance_labels with the global seed: same for all
    items = []
    for r in test:
        context, answer = icl_item(r["text"], r["label"], demos, num_labels, seed)
        items.append(EvalItem({"context": context, "question": r["text"]}, answer, {"shots": shots}))
    return spec, items


@register(ICL_DATASETS, ICL)
def _build(name: str, tokenizer, length: int, cfg: EvalConfig) -> tuple[TaskSpec, list[EvalItem]]:
    return icl(name, cfg.data_root() / "icl", tokenizer, length, cfg.icl_num_samples, cfg.seed,
               cfg.max_new_tokens.get(name) or 20, table_count(cfg, name, length))
