"""ICL: many-shot classification (TREC coarse/fine, NLU, Banking77, Clinc150), HELMET's `load_icl` (data.py).

Files: `<name>_train.jsonl` and `<name>_test.jsonl`, one {"text": str, "label": int | str} per line, in the row order
of the HF datasets HELMET loads (integer labels are the ClassLabel ids). As in HELMET (`*shot_balance` datasets):
- every test item draws its own label-balanced demonstrations (`balance_labels`: rounds of one sample per label,
  shuffled within each round) from the whole training split, with `random.Random(local_seed)` where
  local_seed = (sha256(item text) + seed) mod 2**31 (`local_seed`): items differ, a rerun does not;
- label ids are replaced by a permutation of `range(num_labels)` shuffled with the same per-item seed;
- a test split larger than the sample count (Banking77, Clinc150, NLU at HELMET's 500) is shuffled
  (`test.shuffle(seed)`, HF datasets' permutation) and then label-balanced with `balance_labels(.., n, seed)` on
  the *global* seed (`select_test`); a split of at most `n` items (TREC's 500) is kept whole, in file order;
- the score is EM / F1 / SubEM of the output parsed after "label:" only (no raw-output scoring).

HELMET fixes the number of shots per length (the dataset name, e.g. `icl_banking77_5900shot_balance`): with
`sizing: table` that count is used for every item and an overlong prompt is cut by the runner, as HELMET cuts it.
Sized by binary search instead (on the first item's demonstrations), an item whose own demonstrations overshoot
the budget gets fewer shots (`fit_item`), so every prompt fits.
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
from prolong.eval.tasks.common import choose_count, fit_item, read_jsonl, table_count
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


def local_seed(text: str, seed: int) -> int:
    """HELMET's per-item seed, `(int(sha256(text)) + seed) % 2**31`: deterministic, unlike Python's salted hash()."""
    return (stable_seed(text) + seed) % 2**31  # stable_seed is sha256 mod 2**31: same residue


def label_mapping(text: str, num_labels: int, seed: int) -> list[int]:
    """HELMET: `random.seed(local_seed); random.shuffle(list(range(num_labels)))` (the global Random seeded alike
    is the same Mersenne Twister as a fresh `random.Random(local_seed)`)."""
    mapping = list(range(num_labels))
    random.Random(local_seed(text, seed)).shuffle(mapping)
    return mapping


def item_demos(train: list[dict], shots: int, text: str, seed: int) -> list[dict]:
    """The demonstrations of the test item `text`: HELMET's `balance_labels(train_data, shot, local_seed)`."""
    return balance_labels(train, shots, local_seed(text, seed))


def select_test(test: list[dict], n: int | None, seed: int) -> list[dict]:
    """HELMET's test items: when the split has more than `n`, `test.shuffle(seed=seed)` then
    `balance_labels(shuffled, n, seed)` (labels in order of first appearance after the shuffle, a round of one item
    per label at a time, the last round cut at `n`); a split of at most `n` is kept whole and in order."""
    if n is None or len(test) <= n:
        return test
    return balance_labels(hf_shuffle_select(test, None, seed), n, seed)


def icl_item(text: str, label: int, demos: list[dict], num_labels: int, seed: int) -> tuple[str, str]:
    """(context of demonstrations, gold answer) for one test item, with its own label mapping; `demos` are the
    item's own (`item_demos`) in the evaluation, any list elsewhere (the tiny SFT mixture)."""
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
    test = select_test(test, num_samples, seed)
    spec = TaskSpec(name, ICL, P.ICL_USER, P.ICL_PREFIX, max_new_tokens, "exact_match", _score,
                    stop_newline=True)

    def make(r: dict, k: int) -> tuple[dict[str, str], str]:
        context, answer = icl_item(r["text"], r["label"], item_demos(train, k, r["text"], seed), num_labels, seed)
        return {"context": context, "question": r["text"]}, answer

    shots = choose_count(tokenizer, spec, length, count, 1 << 16, lambda k: make(test[0], k)[0])
    items = []
    for r in test:
        if count is None:  # sized here: this item's own demonstrations must fit too
            k, fields, answer = fit_item(tokenizer, spec, length, shots, lambda m: make(r, m))
        else:  # HELMET's fixed shot count, whatever the item's length (the runner cuts as HELMET does)
            k, (fields, answer) = shots, make(r, shots)
        items.append(EvalItem(fields, answer, {"shots": k}))
    return spec, items


@register(ICL_DATASETS, ICL)
def _build(name: str, tokenizer, length: int, cfg: EvalConfig) -> tuple[TaskSpec, list[EvalItem]]:
    return icl(name, cfg.data_root() / "icl", tokenizer, length, cfg.icl_num_samples, cfg.seed,
               cfg.max_new_tokens.get(name) or 20, table_count(cfg, name, length))
