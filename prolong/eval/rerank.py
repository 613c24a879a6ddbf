"""Re-rank (MS MARCO) scoring: HELMET's ranking parser and trec_eval's nDCG@k.

`parse_rankings` turns "Ranking: [ID 3] > ID1 > 2" into {"3": 3, "1": 2, "2": 1} (score n-i for the i-th of n ids,
first occurrence wins); ids the model never output get no score, so trec_eval treats them as not retrieved.
`ndcg_at_k` reproduces trec_eval's ndcg_cut (linear gain, log2 discount, ties broken by doc id descending as
trec_eval does); `ndcg_pytrec` calls pytrec_eval itself when it is installed (the tests compare the two).
"""

from __future__ import annotations

import math
import re


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


def ndcg_at_k(scores: dict[str, float], qrels: dict[str, int], k: int = 10) -> float:
    """trec_eval ndcg_cut_k for one query: retrieved docs sorted by score desc (ties: doc id desc, as trec_eval),
    gain = relevance label, discount log2(rank + 1); the ideal ranking uses all judged relevances."""
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], _neg_key(kv[0])))[:k]
    dcg = sum(qrels.get(doc, 0) / math.log2(i + 2) for i, (doc, _) in enumerate(ranked))
    ideal = sorted((v for v in qrels.values() if v > 0), reverse=True)[:k]
    idcg = sum(v / math.log2(i + 2) for i, v in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


class _neg_key(str):
    """Sort key that orders strings descending (trec_eval breaks score ties by docno, descending)."""

    def __lt__(self, other):  # type: ignore[override]
        return str.__gt__(self, other)


def ndcg_pytrec(scores: dict[str, float], qrels: dict[str, int], k: int = 10) -> float:
    import pytrec_eval

    ev = pytrec_eval.RelevanceEvaluator({"q": {d: int(r) for d, r in qrels.items()}}, {f"ndcg_cut.{k}"})
    res = ev.evaluate({"q": {d: float(s) for d, s in scores.items()}})
    return res["q"][f"ndcg_cut_{k}"] if "q" in res else 0.0


def rerank_metrics(output: str, qrels: dict[str, int]) -> tuple[dict[str, float], dict[str, int]]:
    """Per-item metrics (NDCG@{1,5,10}, recall@10, number of parsed ids) and the parsed ranking."""
    parsed = parse_rankings(output)
    mets = {f"NDCG@{k}": ndcg_at_k(parsed, qrels, k) for k in (1, 5, 10)}
    top10 = [d for d, _ in sorted(parsed.items(), key=lambda kv: (-kv[1], _neg_key(kv[0])))[:10]]
    n_rel = sum(1 for v in qrels.values() if v > 0)
    mets["Recall@10"] = sum(qrels.get(d, 0) > 0 for d in top10) / n_rel if n_rel else 0.0
    mets["num_preds"] = float(len(parsed))
    return mets, parsed
