"""RAG: NQ, TriviaQA, HotpotQA, PopQA over KILT passages (HELMET's `load_qa`).

File format (one JSON object per line, HELMET's kilt files): {"question": str, "answers": [str, ...],
"ctxs": [{"title": str, "text": str, ...}, ...], optional "id"}. Demos come from `<name>_demo.jsonl` next to the test
file if present (same format), else from the other test questions. The first k passages are used (HELMET's files
already place the gold passages at controlled depths); k is HELMET's per-length count or fitted to the length.
PopQA keeps HELMET's `kilt_popqa_3` filter (log10(s_pop) < 3, on test and demos, when rows carry "s_pop") and, since
its demos come from the test file itself, removes the item from the pool before shuffling (HELMET's `load_qa`).
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import TYPE_CHECKING

from prolong.eval import prompts as P
from prolong.eval.categories import HELMET_CATEGORIES, RAG
from prolong.eval.metrics import score_raw_and_parsed
from prolong.eval.tasks.base import EvalItem, TaskSpec
from prolong.eval.tasks.common import choose_count, pick_demos, read_jsonl, resolve, sample_items, table_count
from prolong.eval.tasks.registry import register

if TYPE_CHECKING:
    from prolong.eval.config import EvalConfig

RAG_DATASETS = tuple(HELMET_CATEGORIES[RAG])  # membership is defined once, in prolong.eval.categories


def _passages(ctxs: list[dict]) -> str:
    return "\n\n".join(P.RAG_PASSAGE.format(title=c.get("title", ""), text=c["text"]) for c in ctxs)


def _demo_text(demos: list[dict], demo_passages: int) -> str:
    if not demos:
        return ""
    return "\n\n".join(P.RAG_DEMO.format(documents=_passages(d["ctxs"][:demo_passages]), question=d["question"],
                                         answer=d["answers"][0]) for d in demos) + "\n\n"


def rag(name: str, path: str | Path, tokenizer, length: int, num_samples: int | None, seed: int = 42,
        shots: int = 2, max_new_tokens: int = 20, count: int | None = None,
        demo_passages: int = 3, popularity_threshold: float | None = 3) -> tuple[TaskSpec, list[EvalItem]]:
    path = resolve(Path(path), length)
    rows = read_jsonl(path)
    demo_file = path.with_name(f"{name}_demo.jsonl")
    pool = read_jsonl(demo_file) if demo_file.is_file() else rows
    if name == "popqa" and popularity_threshold is not None:
        rows = [r for r in rows if "s_pop" not in r or math.log10(r["s_pop"]) < popularity_threshold]
        pool = [r for r in pool if "s_pop" not in r or math.log10(r["s_pop"]) < popularity_threshold]
    exclude_item = name == "popqa" or not demo_file.is_file()  # the pool holds the test questions themselves
    key = "id" if rows and "id" in rows[0] else "question"
    test = sample_items(rows, num_samples, seed, key)

    def score(output: str, item: EvalItem):
        return score_raw_and_parsed(output, item.answers, P.RAG_PREFIX)

    spec = TaskSpec(name, RAG, P.RAG_USER, P.RAG_PREFIX, max_new_tokens, "substring_exact_match", score,
                    stop_newline=True)
    demo_texts = [_demo_text(pick_demos(pool, shots, str(r[key]), key, exclude_item), demo_passages) for r in test]
    first = test[0]
    k = choose_count(tokenizer, spec, length, count, len(first["ctxs"]),
                     lambda k: {"demos": demo_texts[0], "context": _passages(first["ctxs"][:k]),
                                "question": first["question"]})
    items = [EvalItem({"demos": d, "context": _passages(r["ctxs"][:k]), "question": r["question"]},
                      list(r["answers"]), {"num_passages": k})
             for r, d in zip(test, demo_texts)]
    return spec, items


@register(RAG_DATASETS, RAG)
def _build(name: str, tokenizer, length: int, cfg: EvalConfig) -> tuple[TaskSpec, list[EvalItem]]:
    return rag(name, cfg.data_root() / "rag" / f"{name}.jsonl", tokenizer, length, cfg.num_samples, cfg.seed,
               cfg.shots, cfg.max_new_tokens.get(name) or 20, table_count(cfg, name, length))
