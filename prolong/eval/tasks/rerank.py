"""Re-rank: MS MARCO passage re-ranking (HELMET's `load_msmarco_rerank`), scored by nDCG@10.

File format: {"qid": str, "query": str, "ctxs": [{"id": str, "title": str, "text": str, "label": int}, ...]} with
graded labels (0-3). Demos from `msmarco_demo.jsonl` next to the test file if present, else other test queries;
a demo shows its passages, the query and the gold ranking (ids sorted by label, descending).

`parse_rankings` (HELMET's parser) turns "Ranking: [ID 3] > ID1 > 2" into {"3": 3, "1": 2, "2": 1} (score n-i for
the i-th of n ids, first occurrence wins); ids the model never output get no score, so trec_eval treats them as not
retrieved. The ranking metrics themselves (nDCG@k, Recall@k) are in `prolong.eval.metrics`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import TYPE_CHECKING

from prolong.eval import prompts as P
from prolong.eval.categories import RERANK
from prolong.eval.metrics import ndcg_at_k, recall_at_k
from prolong.eval.tasks.base import EvalItem, TaskSpec
from prolong.eval.helmet_format import RERANK_KS
from prolong.eval.tasks.common import choose_count, helmet_layout, keep_gold, pick_demos, read_jsonl, resolve, \
    sample_items, table_count
from prolong.eval.tasks.registry import register

if TYPE_CHECKING:
    from prolong.eval.config import EvalConfig


def parse_rankings(output: str) -> dict[str, int]:
    # 1. drop brackets and colons, lower-case, delete "id" so "[ID: 3]" -> " 3"
    text = re.sub(r"[\[\]:]", "", output).lower().replace("id", "")
    # 2. the longest run of integers separated by '>' (spaces allowed around '>')
    longest = ""
    for m in re.finditer(r"(\d+)(?:\s*>\s*(\d+))*", text):
        if len(m.group(0)) > len(longest):
            longest = m.group(0)
    ranked = [x.strip() for x in longest.split(">") if x.strip().isdigit()] if longest else [text]
    scores: dict[str, int] = {}
    for i, doc in enumerate(ranked):
        if doc not in scores:  # first occurrence wins
            scores[doc] = len(ranked) - i
    return scores


def rerank_metrics(output: str, qrels: dict[str, int]) -> tuple[dict[str, float], dict[str, int]]:
    """Per-item metrics (NDCG@{1,5,10}, recall@10, number of parsed ids) and the parsed ranking."""
    parsed = parse_rankings(output)
    mets = {f"NDCG@{k}": ndcg_at_k(parsed, qrels, k) for k in (1, 5, 10)}
    mets["Recall@10"] = recall_at_k(parsed, qrels, 10)
    mets["num_preds"] = float(len(parsed))
    return mets, parsed


def _passages(ctxs: list[dict]) -> str:
    tmpl = P.RERANK_PASSAGE if ctxs and "title" in ctxs[0] else P.RERANK_PASSAGE_NO_TITLE
    return "\n\n".join(tmpl.format(**{**c, "id": str(c["id"])}) for c in ctxs)


def gold_ranking(ctxs: list[dict]) -> str:
    return " > ".join(str(c["id"]) for c in sorted(ctxs, key=lambda c: c["label"], reverse=True))


def _demo_text(demos: list[dict], demo_passages: int) -> str:
    out = ""
    for d in demos:
        ctxs = d["ctxs"][:demo_passages]
        out += _passages(ctxs) + f"\n\nQuery: {d['query']}\nRanking: {gold_ranking(ctxs)}" + "\n\n"
    return out


def helmet_rerank_files(root: Path, length: int) -> tuple[Path, Path]:
    """HELMET's data/msmarco/: `test_reranking_data_k{k}_dep3.jsonl` of this length (else the largest there, cut to
    k keeping the relevant passages) and the demo file `test_reranking_data_k10_dep3.jsonl`."""
    want = root / "msmarco" / f"test_reranking_data_k{RERANK_KS.get(length, 0)}_dep3.jsonl"
    demo = root / "msmarco" / "test_reranking_data_k10_dep3.jsonl"
    found = sorted(root.glob("msmarco/test_reranking_data_k*_dep3.jsonl"),
                   key=lambda p: int(p.stem.split("_k")[-1].split("_")[0]))
    found = [p for p in found if p != demo]
    if not want.is_file() and not found:
        raise FileNotFoundError(f"{want}: msmarco_rerank's test file not found (HELMET's data/msmarco/ layout)")
    if not demo.is_file():
        raise FileNotFoundError(f"{demo}: msmarco_rerank's demo file not found (HELMET's data/msmarco/ layout)")
    return (want if want.is_file() else found[-1]), demo


def msmarco(path: str | Path, tokenizer, length: int, num_samples: int | None, seed: int = 42, shots: int = 2,
            max_new_tokens: int = 200, count: int | None = None,
            demo_passages: int = 10, demo_path: str | Path | None = None) -> tuple[TaskSpec, list[EvalItem]]:
    path = Path(path) if demo_path is not None else resolve(Path(path), length)
    rows = read_jsonl(path)
    demo_file = Path(demo_path) if demo_path is not None else path.with_name("msmarco_demo.jsonl")
    pool = read_jsonl(demo_file) if demo_file.is_file() else rows
    test = sample_items(rows, num_samples, seed, "qid")
    # HELMET: with many demos (> 2x the test items) every sampled test query is removed from the pool once;
    # otherwise each item's own query is removed before its demos are shuffled
    global_filter = len(pool) > 2 * len(test)
    if global_filter:
        test_qids = {str(r["qid"]) for r in test}
        pool = [d for d in pool if str(d["qid"]) not in test_qids]

    def score(output: str, item: EvalItem):
        return rerank_metrics(output, item.answers)

    spec = TaskSpec("msmarco_rerank", RERANK, P.RERANK_USER, P.RERANK_PREFIX, max_new_tokens, "NDCG@10", score,
                    stop_newline=True)
    demo_texts = [_demo_text(pick_demos(pool, shots, str(r["qid"]), "qid", not global_filter), demo_passages)
                  for r in test]
    first = test[0]
    k = choose_count(tokenizer, spec, length, count, len(first["ctxs"]),
                     lambda k: {"demos": demo_texts[0],
                                "context": _passages(keep_gold(first["ctxs"], k, lambda c: int(c["label"]) > 0)),
                                "question": first["query"]})
    items = []
    for r, d in zip(test, demo_texts):
        ctxs = keep_gold(r["ctxs"], k, lambda c: int(c["label"]) > 0)  # never drop a relevant passage
        qrels = {str(c["id"]): int(c["label"]) for c in ctxs}
        items.append(EvalItem({"demos": d, "context": _passages(ctxs), "question": r["query"]}, qrels,
                              {"qid": str(r["qid"]), "gold_ranking": gold_ranking(ctxs), "num_passages": k}))
    return spec, items


@register("msmarco_rerank", RERANK)
def _build(name: str, tokenizer, length: int, cfg: EvalConfig) -> tuple[TaskSpec, list[EvalItem]]:
    root = cfg.data_root()
    if helmet_layout(root):
        test, demo = helmet_rerank_files(root, length)
        count = table_count(cfg, name, length)
        if count is None and test.name == f"test_reranking_data_k{RERANK_KS.get(length)}_dep3.jsonl":
            count = RERANK_KS[length]  # HELMET's own file of this length: all its passages
        # HELMET's demos show all the demo file's passages (10)
        return msmarco(test, tokenizer, length, cfg.num_samples, cfg.seed, cfg.shots,
                       cfg.max_new_tokens.get(name) or 200, count, demo_passages=1 << 30, demo_path=demo)
    return msmarco(cfg.data_root() / "rerank" / "msmarco.jsonl", tokenizer, length, cfg.num_samples, cfg.seed,
                   cfg.shots, cfg.max_new_tokens.get(name) or 200, table_count(cfg, name, length))
