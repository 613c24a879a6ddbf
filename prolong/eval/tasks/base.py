"""What every task returns: a `TaskSpec` (prompt templates, decoding, scoring) and a list of `EvalItem`s."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from typing import Any, Callable

Scorer = Callable[[str, "EvalItem"], tuple[dict[str, float], Any]]


@dataclass
class EvalItem:
    fields: dict[str, str]
    "template fields: context, question, demos and task-specific ones (query, type_needle_v, options)"
    answers: Any
    "gold answer(s): a string, a list of strings, or task-specific (qrels for re-rank)"
    extra: dict[str, Any] = field(default_factory=dict)
    "anything the scorer or the judge needs (qid, key points, depth)"


@dataclass
class TaskSpec:
    name: str
    "dataset name as written in the results (e.g. json_kv, ruler_mk_needle, nq)"
    category: str
    "HELMET category: Recall, RAG, Re-rank, ICL, QA, Summ, NIAH"
    user_template: str
    prefix_template: str
    "answer prefix (HELMET's system_template); may contain fields such as {query}"
    max_new_tokens: int
    main_metric: str
    "the per-item metric averaged into the category score"
    score: Scorer
    chat: bool = False
    "apply the tokenizer's chat template (QA and Summ in HELMET)"
    sep: str = "\n"
    "between the user turn and the answer prefix when no chat template is used"
    stop_newline: bool = False
    "stop generation at a newline token (short-answer tasks)"
    judged: bool = False
    "QA/Summ: the main metric comes from the model judge when one is configured"


def stable_seed(text: str, offset: int = 0) -> int:
    """A deterministic positive seed from text (Python's hash() is salted per process), as HELMET does."""
    return (int(hashlib.sha256(text.encode("utf-8")).hexdigest(), 16) + offset) % 2**31


def hf_permutation(n: int, seed: int) -> list[int]:
    """The order `datasets.Dataset.shuffle(seed=seed)` puts `n` rows in (numpy's default_rng(seed).permutation), so
    HELMET's `data.shuffle(seed=...).select(range(k))` is reproduced exactly on a file in the same row order."""
    import numpy as np

    return [int(i) for i in np.random.default_rng(seed).permutation(n)]


def hf_shuffle_select(rows: list, k: int | None, seed: int) -> list:
    """HELMET's `data.shuffle(seed=seed).select(range(min(k, len(data))))`."""
    order = hf_permutation(len(rows), seed)
    if k is not None:
        order = order[: min(k, len(rows))]
    return [rows[i] for i in order]


def n_tokens(tokenizer: Any, text: str) -> int:
    return len(tokenizer(text, add_special_tokens=False)["input_ids"])


def fit_count(measure: Callable[[int], int], budget: int, lo: int = 1, hi: int = 1 << 20) -> int:
    """Largest n in [lo, hi] with measure(n) <= budget, by binary search (measure must grow with n).
    Returns lo if even measure(lo) exceeds the budget; grows hi by doubling from a small start first."""
    probe = max(lo, 1)
    while probe < hi and measure(probe) <= budget:
        probe *= 2
    hi = min(hi, probe)
    best = lo
    left, right = lo, hi
    while left <= right:
        mid = (left + right) // 2
        if measure(mid) <= budget:
            best, left = mid, mid + 1
        else:
            right = mid - 1
    return best
