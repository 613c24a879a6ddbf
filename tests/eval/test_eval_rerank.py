import math
import random

import pytest

from prolong.eval.metrics import ndcg_at_k
from prolong.eval.tasks.rerank import parse_rankings, rerank_metrics


def test_parser_edge_cases():
    assert parse_rankings("Ranking: [3] > [1] > [2]") == {"3": 3, "1": 2, "2": 1}
    assert parse_rankings("ID3 > ID1 > ID2") == {"3": 3, "1": 2, "2": 1}
    assert parse_rankings("[ID: 12]>[ID: 7]  >   [ID: 9]") == {"12": 3, "7": 2, "9": 1}
    assert parse_rankings("ID 5 > ID 5 > ID 4") == {"5": 3, "4": 1}  # duplicates: first occurrence wins
    # the longest '>'-chain wins over stray numbers
    assert parse_rankings("Top 10 results: 4 > 8 > 15") == {"4": 3, "8": 2, "15": 1}
    assert list(parse_rankings("no numbers at all")) == ["no numbers at all"]


def test_ndcg_hand_computed():
    qrels = {"1": 3, "2": 0, "3": 1, "4": 2}
    scores = parse_rankings("3 > 1 > 9")  # 9 is not a judged doc; 2 and 4 are never output
    dcg = 1 / math.log2(2) + 3 / math.log2(3) + 0
    idcg = 3 / math.log2(2) + 2 / math.log2(3) + 1 / math.log2(4)
    assert ndcg_at_k(scores, qrels, 10) == pytest.approx(dcg / idcg)
    mets, _ = rerank_metrics("Ranking: 3 > 1 > 9", qrels)
    assert mets["NDCG@10"] == pytest.approx(dcg / idcg) and mets["num_preds"] == 3


def _ndcg_pytrec(pytrec_eval, scores: dict[str, float], qrels: dict[str, int], k: int = 10) -> float:
    """The reference: nDCG@k computed by pytrec_eval (trec_eval's ndcg_cut_k) itself."""
    ev = pytrec_eval.RelevanceEvaluator({"q": {d: int(r) for d, r in qrels.items()}}, {f"ndcg_cut.{k}"})
    res = ev.evaluate({"q": {d: float(s) for d, s in scores.items()}})
    return res["q"][f"ndcg_cut_{k}"] if "q" in res else 0.0


def test_ndcg_matches_pytrec_eval():
    pytrec_eval = pytest.importorskip("pytrec_eval")
    rng = random.Random(0)
    for _ in range(50):
        docs = [str(rng.randint(1, 60)) for _ in range(20)]
        qrels = {d: rng.choice([0, 0, 1, 2, 3]) for d in docs}
        out = " > ".join(rng.choice(docs + ["99"]) for _ in range(rng.randint(1, 25)))
        scores = parse_rankings(out)
        assert ndcg_at_k(scores, qrels, 10) == pytest.approx(_ndcg_pytrec(pytrec_eval, scores, qrels, 10), abs=1e-4)
