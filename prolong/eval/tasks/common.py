"""Helpers shared by the loaders of HELMET's released files: reading jsonl, sampling test items, sizing counts."""

from __future__ import annotations

import math
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

from prolong.eval import prompts as P
from prolong.eval.tasks.base import TaskSpec, fit_count, hf_permutation, stable_seed
from prolong.io import iter_jsonl

if TYPE_CHECKING:
    from prolong.eval.config import EvalConfig


def read_jsonl(path: str | Path) -> list[dict[str, Any]]:
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: data file not found (see prolong/eval/data_layout.md for the layout; "
                                f"the tiny suite is built by `prolong data build-tiny`)")
    return list(iter_jsonl(path, allow_torn_tail=False))


def sample_items(rows: list[dict], n: int | None, seed: int, key: str) -> list[dict]:
    """HELMET's sampling: `n` distinct keys drawn with random.Random(seed) from the sorted keys, file order kept."""
    if n is None or n >= len(rows):
        return rows
    keys = sorted({str(r[key]) for r in rows})
    chosen = set(random.Random(seed).sample(keys, min(n, len(keys))))
    return [r for r in rows if str(r[key]) in chosen]


def pick_demos(pool: list[dict], shots: int, item_key: str, key: str, exclude_item: bool = True) -> list[dict]:
    """`shots` demos for one test item, as HELMET's `load_qa` / `load_msmarco_rerank`: (optionally) the item itself
    removed from the pool first (`demos.filter(x[key] != sample[key])`), then `shuffle(seed=sha256(key) % 2**31)`
    (HF datasets' permutation), duplicates of a key dropped (first kept), the first `shots` taken."""
    if shots <= 0:
        return []
    cand = [d for d in pool if str(d[key]) != item_key] if exclude_item else list(pool)
    out, seen = [], set()
    for i in hf_permutation(len(cand), stable_seed(item_key)):
        k = str(cand[i][key])
        if k in seen:
            continue
        seen.add(k)
        out.append(cand[i])
        if len(out) == shots:
            break
    return out


def prompt_len(tokenizer: Any, spec: TaskSpec, fields: dict[str, str]) -> int:
    text, special = P.format_prompt(tokenizer, spec.user_template, spec.prefix_template, fields, spec.chat, spec.sep)
    return len(P.encode(tokenizer, text, special))


def choose_count(tokenizer, spec: TaskSpec, length: int, fixed: int | None, max_count: int,
                 make_fields: Callable[[int], dict[str, str]]) -> int:
    """The number of passages / demonstrations: HELMET's table value if given, else the largest count whose
    prompt fits `length - max_new_tokens` (binary search)."""
    if fixed is not None:
        return min(fixed, max_count)
    budget = length - spec.max_new_tokens
    return fit_count(lambda k: prompt_len(tokenizer, spec, make_fields(k)), budget, lo=1, hi=max(1, max_count))


def fit_item(tokenizer, spec: TaskSpec, length: int, n: int, make: Callable[[int], tuple[dict[str, str], Any]]
             ) -> tuple[int, dict[str, str], Any]:
    """(units, fields, answers) of one item: `n` units (haystack units, demonstrations) if its prompt fits
    `length - max_new_tokens`, else fewer, as RULER's generator lowers `num_haystack` for a sample until it fits:
    the runner's cut of the context's end then never happens, so never deletes a gold placed at the end.
    `make(k)` must build the item with `k` units deterministically (a fresh copy of the item's generator, seeded
    demonstrations); a gold placed at a relative depth of `k` keeps its depth.

    A fitting item costs one tokenization. An overshooting one steps down by the units its excess comes to at its
    own tokens per unit, until it fits: items differ from the sized sample by a few units, so one step usually
    does, landing on the largest fitting count or a unit under it (a search upwards would cost more tokenizations
    of up to 64K tokens each for that unit)."""
    budget = length - spec.max_new_tokens
    k = n
    fields, answers = make(k)
    used = prompt_len(tokenizer, spec, fields)
    while k > 1 and used > budget:
        # `used / k` counts the prompt's fixed part too, so the step may fall short of the cut: the loop goes on
        k = max(1, k - math.ceil((used - budget) * k / used))
        fields, answers = make(k)
        used = prompt_len(tokenizer, spec, fields)
    return k, fields, answers


def keep_gold(ctxs: list[dict], k: int, is_gold: Callable[[dict], bool]) -> list[dict]:
    """`k` of the passages with every gold one kept: the gold passages and, in file order, the first others that
    fill the rest, in their file order. HELMET's per-length files place the golds at controlled depths; a file made
    for another k cut to its first k would drop a gold placed late."""
    if k >= len(ctxs):
        return list(ctxs)
    gold = {i for i, c in enumerate(ctxs) if is_gold(c)}
    fill = [i for i in range(len(ctxs)) if i not in gold][: max(0, k - len(gold))]
    keep = sorted(gold | set(fill))
    return [ctxs[i] for i in keep]


def helmet_layout(data_dir: Path) -> bool:
    """Whether `data_dir` is laid out as HELMET's released data/ (its download script's folders)."""
    return any((data_dir / sub).is_dir() for sub in ("kilt", "msmarco", "json_kv", "alce", "ruler"))


def resolve(path: Path, length: int) -> Path:
    """HELMET ships one file per input length for RAG and re-rank; prefer `<stem>_<length>.jsonl` when present."""
    per_length = path.with_name(f"{path.stem}_{length}{path.suffix}")
    return per_length if per_length.is_file() else path


def table_count(cfg: EvalConfig, name: str, length: int, required: bool = True) -> int | None:
    """HELMET's per-length count of `name` when `cfg.sizing == 'table'` (None = fit by binary search). A missing
    entry is an error unless not `required` (RULER and passkey are then sized by binary search)."""
    if cfg.sizing != "table":
        return None
    table = cfg.counts.get(name, {})
    if length not in table:
        if not required:
            return None
        raise ValueError(f"sizing 'table' but counts[{name!r}] has no entry for length {length}")
    return table[length]
