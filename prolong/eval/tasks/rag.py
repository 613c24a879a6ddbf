"""RAG: NQ, TriviaQA, HotpotQA, PopQA over KILT passages (HELMET's `load_qa`).

File format (one JSON object per line, HELMET's kilt files): {"question": str, "answers": [str, ...],
"ctxs": [{"title": str, "text": str, ...}, ...], optional "id"}. In HELMET's layout (`kilt/`) the test file is the one
HELMET made for this length (`*_k{k}_dep{d}`) and the demos come from its `*_k3` file, each with all its passages;
in the tiny layout demos come from `<name>_demo.jsonl` if present, else from the other test questions. When the
file holds more passages than k (HELMET's per-length count or a fit), k are kept with every gold one
(`common.keep_gold`: KILT's `has_answer`), never blindly the first k.
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
from prolong.eval.helmet_format import RAG_KS
from prolong.eval.tasks.common import choose_count, helmet_layout, keep_gold, pick_demos, read_jsonl, resolve, \
    sample_items, table_count
from prolong.eval.tasks.registry import register

if TYPE_CHECKING:
    from prolong.eval.config import EvalConfig

RAG_DATASETS = tuple(HELMET_CATEGORIES[RAG])  # membership is defined once, in prolong.eval.categories


def _passages(ctxs: list[dict]) -> str:
    return "\n\n".join(P.RAG_PASSAGE.format(title=c.get("title", ""), text=c["text"]) for c in ctxs)


def _demo_text(demos: list[dict], demo_passages: int | None) -> str:
    if not demos:
        return ""
    return "\n\n".join(P.RAG_DEMO.format(documents=_passages(d["ctxs"][:demo_passages]), question=d["question"],
                                         answer=d["answers"][0]) for d in demos) + "\n\n"


def is_gold(ctx: dict) -> bool:
    """A passage holding the answer (KILT's `has_answer`, or a tiny file's `gold`)."""
    return bool(ctx.get("has_answer") or ctx.get("gold"))


def helmet_rag_files(name: str, root: Path, length: int) -> tuple[Path, Path]:
    """(test file, demo file) of HELMET's released data/kilt/ for one length: the per-length file
    `<stem>_k{k}_dep{d}.jsonl` of HELMET's k at this length, else the largest per-length file there (its passages
    then cut to k keeping the golds); the demo file `*_k3_dep{d}`. A missing file is an error naming it and the task."""
    dep = 3 if name == "hotpotqa" else 6
    stem = "popqa_test_1000" if name == "popqa" else f"{name}-dev-multikilt_1000"
    demo = root / "kilt" / (("popqa_test_1000" if name == "popqa" else f"{name}-train-multikilt_1000")
                            + f"_k3_dep{dep}.jsonl")
    want = root / "kilt" / f"{stem}_k{RAG_KS.get(length, 0)}_dep{dep}.jsonl"
    if want.is_file():
        test = want
    else:
        found = sorted(root.glob(f"kilt/{stem}_k*_dep{dep}.jsonl"), key=lambda p: int(p.stem.split("_k")[-1]
                                                                                      .split("_")[0]))
        if not found:
            raise FileNotFoundError(f"{want}: {name}'s test file not found (HELMET's data/kilt/ layout; "
                                    f"scripts/download_data.sh)")
        test = found[-1]
    if not demo.is_file():
        raise FileNotFoundError(f"{demo}: {name}'s demo file not found (HELMET's data/kilt/ layout)")
    return test, demo


def rag(name: str, path: str | Path, tokenizer, length: int, num_samples: int | None, seed: int = 42,
        shots: int = 2, max_new_tokens: int = 20, count: int | None = None,
        demo_passages: int = 3, popularity_threshold: float | None = 3,
        demo_path: str | Path | None = None) -> tuple[TaskSpec, list[EvalItem]]:
    """`path`: the test file (or the tiny layout's `<name>.jsonl`, preferring `<name>_<length>.jsonl`); `demo_path`:
    HELMET's demo file (its demos keep all their passages), else `<name>_demo.jsonl` beside the test file, else the
    test questions themselves (their first `demo_passages` passages)."""
    path = Path(path) if demo_path is not None else resolve(Path(path), length)
    rows = read_jsonl(path)
    demo_file = Path(demo_path) if demo_path is not None else path.with_name(f"{name}_demo.jsonl")
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
    per_demo = None if demo_file.is_file() else demo_passages  # HELMET: all of a demo's passages
    demo_texts = [_demo_text(pick_demos(pool, shots, str(r[key]), key, exclude_item), per_demo) for r in test]
    first = test[0]
    k = choose_count(tokenizer, spec, length, count, len(first["ctxs"]),
                     lambda k: {"demos": demo_texts[0], "context": _passages(keep_gold(first["ctxs"], k, is_gold)),
                                "question": first["question"]})
    items = [EvalItem({"demos": d, "context": _passages(keep_gold(r["ctxs"], k, is_gold)), "question": r["question"]},
                      list(r["answers"]), {"num_passages": min(k, len(r["ctxs"])), "file": path.name})
             for r, d in zip(test, demo_texts)]
    return spec, items


@register(RAG_DATASETS, RAG)
def _build(name: str, tokenizer, length: int, cfg: EvalConfig) -> tuple[TaskSpec, list[EvalItem]]:
    root = cfg.data_root()
    count = table_count(cfg, name, length)
    if helmet_layout(root):
        test, demo = helmet_rag_files(name, root, length)
        if count is None and test.stem.endswith(f"_k{RAG_KS.get(length)}_dep{3 if name == 'hotpotqa' else 6}"):
            count = RAG_KS[length]  # HELMET's own file of this length: all its passages, as HELMET
        return rag(name, test, tokenizer, length, cfg.num_samples, cfg.seed, cfg.shots,
                   cfg.max_new_tokens.get(name) or 20, count, demo_path=demo)
    return rag(name, root / "rag" / f"{name}.jsonl", tokenizer, length, cfg.num_samples, cfg.seed,
               cfg.shots, cfg.max_new_tokens.get(name) or 20, count)
