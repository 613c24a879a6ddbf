"""Recall: JSON KV and the RULER needle tasks (MK-needle, MK-UUID, MV), plus the passkey NIAH. All generated
offline from a seed and sized for any tokenizer and input length by binary search on the number of haystack units
so that the prompt fills `length - max_new_tokens` tokens.

The count is found on one sample (or taken from HELMET's table), but items differ in their random keys and values
and so in their token counts: an item over the budget is then shrunk, on its own, until its prompt fits (to the
largest haystack that does, or a unit under; `common.fit_item`, as RULER's generator lowers `num_haystack` per
sample). Without that the runner would cut it at the context's end, deleting the gold of an item whose needle
sits at depth 1.0. The gold's depth is relative to the item's own count, so it survives the shrinking.
"""

from __future__ import annotations

import random
import uuid
from typing import TYPE_CHECKING

from prolong.eval import prompts as P
from prolong.eval.categories import HELMET_CATEGORIES, NIAH, RECALL
from prolong.eval.metrics import ruler_recall, score_raw_and_parsed
from prolong.eval.tasks.base import EvalItem, TaskSpec, fit_count
from prolong.eval.tasks.common import fit_item, prompt_len, table_count
from prolong.eval.tasks.registry import register
from prolong.eval.words import FILLER, essay_sentence, word_pair

if TYPE_CHECKING:
    from prolong.eval.config import EvalConfig

DEPTHS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)  # the gold's relative position, cycled over items


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _size(tokenizer, spec: TaskSpec, length: int, make_fields, fixed: int | None) -> int:
    """Number of haystack units: `fixed` (HELMET's table) or the largest that fits the budget."""
    if fixed is not None:
        return fixed
    budget = length - spec.max_new_tokens
    return fit_count(lambda n: prompt_len(tokenizer, spec, make_fields(n, random.Random(0), 0)), budget)


def _item_rng(seed: int, i: int) -> random.Random:
    """Item i's generator, re-created for every trial size so that a shrunk item keeps its seed."""
    return random.Random(seed * 100003 + i)


# ---- JSON KV ---------------------------------------------------------------------------------------------------
def json_kv_fields(n: int, rng: random.Random, i: int, shots: int = 2) -> tuple[dict[str, str], str]:
    pairs = [(_uuid(rng), _uuid(rng)) for _ in range(n)]
    gold = round(DEPTHS[i % len(DEPTHS)] * (n - 1))
    others = [j for j in range(n) if j != gold]
    demo_idx = rng.sample(others, min(shots, len(others)))
    demos = "\n\n".join(P.JSON_KV_DEMO.format(key=pairs[j][0], value=pairs[j][1]) for j in demo_idx)
    context = "JSON data:\n{" + ",\n".join(f'"{k}": "{v}"' for k, v in pairs) + "}"
    fields = {"context": context, "demos": demos + ("\n\n" if demos else ""), "question": pairs[gold][0]}
    return fields, pairs[gold][1]


def json_kv(tokenizer, length: int, num_samples: int, seed: int = 42, shots: int = 2,
            max_new_tokens: int = 100, count: int | None = None) -> tuple[TaskSpec, list[EvalItem]]:
    def score(output: str, item: EvalItem):
        return score_raw_and_parsed(output, item.answers, P.JSON_KV_PREFIX, with_rouge=False)

    # HELMET's recall configs run with stop_new_line: false (JSON KV included)
    spec = TaskSpec("json_kv", RECALL, P.JSON_KV_USER, P.JSON_KV_PREFIX, max_new_tokens,
                    "substring_exact_match", score)
    n = _size(tokenizer, spec, length, lambda n, r, i: json_kv_fields(n, r, i, shots)[0], count)
    items = []
    for i in range(num_samples):
        k, fields, value = fit_item(tokenizer, spec, length, n,
                                    lambda m: json_kv_fields(m, _item_rng(seed, i), i, shots))
        items.append(EvalItem(fields, [value], {"num_kvs": k, "depth": DEPTHS[i % len(DEPTHS)]}))
    return spec, items


# ---- RULER needles ---------------------------------------------------------------------------------------------
def _ruler_score(output: str, item: EvalItem):
    return {"ruler_recall": ruler_recall(output, item.answers)}, output


def needles_fields(kind: str, n: int, rng: random.Random, i: int) -> tuple[dict[str, str], list[str]]:
    """MK-needle / MK-UUID: the haystack is `n` other needles; MV: `n` essay sentences and 4 needles of one key."""
    if kind == "mv":
        tv = "numbers"
        key = word_pair(rng)
        values = [str(rng.randint(1_000_000, 9_999_999)) for _ in range(4)]
        units = [essay_sentence(rng) for _ in range(n)]
        for j, v in enumerate(values):  # spread the 4 needles from the item's depth onwards
            pos = round(((DEPTHS[i % len(DEPTHS)] + j * 0.25) % 1.0) * len(units))
            units.insert(pos, P.RULER_NEEDLE.format(type_needle_v=tv, key=key, value=v))
        context, answers = " ".join(units), values
    else:
        tv = "number" if kind == "mk_needle" else "uuid"
        keygen = (lambda: word_pair(rng)) if kind == "mk_needle" else (lambda: _uuid(rng))
        valgen = (lambda: str(rng.randint(1_000_000, 9_999_999))) if kind == "mk_needle" else (lambda: _uuid(rng))
        keys: list[str] = []
        seen = set()
        while len(keys) < n + 1:  # distinct keys, so the query has exactly one answer
            k = keygen()
            if k not in seen:
                seen.add(k)
                keys.append(k)
        vals = [valgen() for _ in keys]
        gold = round(DEPTHS[i % len(DEPTHS)] * n)
        key, answers = keys[gold], [vals[gold]]
        context = "\n".join(P.RULER_NEEDLE.format(type_needle_v=tv, key=k, value=v) for k, v in zip(keys, vals))
    return {"context": context, "type_needle_v": tv, "query": key}, answers


RULER_MAX_NEW_TOKENS = {"mk_needle": 50, "mk_uuid": 100, "mv": 50}
"RULER's needle kind -> its default generation length"
# the RULER datasets of Recall are named once, in prolong.eval.categories: "ruler_<kind>"
RULER_TASKS = {n: (n.removeprefix("ruler_"), RULER_MAX_NEW_TOKENS[n.removeprefix("ruler_")])
               for n in HELMET_CATEGORIES[RECALL] if n.startswith("ruler_")}
"dataset name -> (needle kind, default generation length)"


def ruler(name: str, tokenizer, length: int, num_samples: int, seed: int = 42,
          max_new_tokens: int | None = None, count: int | None = None) -> tuple[TaskSpec, list[EvalItem]]:
    kind, default_new = RULER_TASKS[name]
    user, prefix = (P.RULER_MV_USER, P.RULER_MV_PREFIX) if kind == "mv" else (P.RULER_NIAH_USER, P.RULER_NIAH_PREFIX)
    spec = TaskSpec(name, RECALL, user, prefix, max_new_tokens or default_new, "ruler_recall", _ruler_score)
    n = _size(tokenizer, spec, length, lambda n, r, i: needles_fields(kind, n, r, i)[0], count)
    items = []
    for i in range(num_samples):
        k, fields, answers = fit_item(tokenizer, spec, length, n,
                                      lambda m: needles_fields(kind, m, _item_rng(seed, i), i))
        items.append(EvalItem(fields, answers, {"haystack_units": k, "depth": DEPTHS[i % len(DEPTHS)]}))
    return spec, items


# ---- passkey NIAH (the paper's "NIAH" column: saturated, shown for contrast) ------------------------------------
NIAH_DEPTHS = tuple(d / 10 for d in range(11))


def passkey_fields(n: int, rng: random.Random, i: int) -> tuple[dict[str, str], str]:
    value = str(rng.randint(10_000, 99_999))
    units = [FILLER] * n
    units.insert(round(NIAH_DEPTHS[i % len(NIAH_DEPTHS)] * n), P.PASSKEY_NEEDLE.format(value=value))
    return {"context": " ".join(units)}, value


def passkey(tokenizer, length: int, num_samples: int, seed: int = 42, max_new_tokens: int = 20,
            count: int | None = None) -> tuple[TaskSpec, list[EvalItem]]:
    spec = TaskSpec("niah_passkey", NIAH, P.PASSKEY_USER, P.PASSKEY_PREFIX, max_new_tokens, "ruler_recall",
                    _ruler_score, stop_newline=True)
    n = _size(tokenizer, spec, length, lambda n, r, i: passkey_fields(n, r, i)[0], count)
    items = []
    for i in range(num_samples):
        _, fields, value = fit_item(tokenizer, spec, length, n, lambda m: passkey_fields(m, _item_rng(seed, i), i))
        items.append(EvalItem(fields, [value], {"depth": NIAH_DEPTHS[i % len(NIAH_DEPTHS)]}))
    return spec, items


# ---- registration (params -> builders) --------------------------------------------------------------------------
@register("json_kv", RECALL)
def _build_json_kv(name: str, tokenizer, length: int, cfg: EvalConfig) -> tuple[TaskSpec, list[EvalItem]]:
    return json_kv(tokenizer, length, cfg.num_samples, cfg.seed, cfg.shots, cfg.max_new_tokens.get(name) or 100,
                   table_count(cfg, name, length))


@register(RULER_TASKS, RECALL)
def _build_ruler(name: str, tokenizer, length: int, cfg: EvalConfig) -> tuple[TaskSpec, list[EvalItem]]:
    # RULER is sized by binary search unless HELMET's table gives a count
    return ruler(name, tokenizer, length, cfg.num_samples, cfg.seed, cfg.max_new_tokens.get(name),
                 table_count(cfg, name, length, required=False))


@register("niah_passkey", NIAH)
def _build_passkey(name: str, tokenizer, length: int, cfg: EvalConfig) -> tuple[TaskSpec, list[EvalItem]]:
    return passkey(tokenizer, length, cfg.num_samples, cfg.seed, cfg.max_new_tokens.get(name) or 20,
                   table_count(cfg, name, length, required=False))
