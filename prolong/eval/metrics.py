"""HELMET's answer metrics: normalisation, EM / SubEM / token F1 (max over golds), ROUGE-L, RULER recall, and
the ranking metrics of Re-rank (trec_eval's nDCG@k, Recall@k).

Every function mirrors HELMET's `utils.py` (and trec_eval for rankings) so that a number here means the same as a
number in the paper.
"""

from __future__ import annotations

import math
import re
import string
from collections import Counter
from functools import lru_cache
from typing import Iterable


def normalize_answer(s: str) -> str:
    """Lower-case, drop punctuation, drop the articles a/an/the (whole words), collapse white space."""
    s = s.lower()
    s = "".join(ch for ch in s if ch not in set(string.punctuation))
    s = re.sub(r"\b(a|an|the)\b", " ", s)
    return " ".join(s.split())


def _golds(answers: str | Iterable) -> list[str]:
    """A gold answer may be a string, a list of strings, or a list of lists (flattened), as in HELMET."""
    if isinstance(answers, str):
        return [answers]
    answers = list(answers)
    if answers and isinstance(answers[0], (list, tuple)):
        return [a for sub in answers for a in sub]
    return [str(a) for a in answers]


def exact_match(prediction: str, answers) -> float:
    return float(max(normalize_answer(prediction) == normalize_answer(g) for g in _golds(answers)))


def substring_exact_match(prediction: str, answers) -> float:
    """SubEM: some normalised gold is a substring of the normalised prediction."""
    p = normalize_answer(prediction)
    return float(max(normalize_answer(g) in p for g in _golds(answers)))


def _f1(prediction: str, gold: str) -> float:
    p, g = normalize_answer(prediction), normalize_answer(gold)
    # HELMET (after SQuAD/HotpotQA): yes/no/noanswer must match exactly
    if (p in ("yes", "no", "noanswer") or g in ("yes", "no", "noanswer")) and p != g:
        return 0.0
    common = Counter(p.split()) & Counter(g.split())
    same = sum(common.values())
    if same == 0:
        return 0.0
    precision, recall = same / len(p.split()), same / len(g.split())
    return 2 * precision * recall / (precision + recall)


def token_f1(prediction: str, answers) -> float:
    return max(_f1(prediction, g) for g in _golds(answers))


@lru_cache(maxsize=1)
def _rouge_scorer():
    from rouge_score import rouge_scorer  # the reference implementation HELMET uses

    return rouge_scorer.RougeScorer(["rougeL", "rougeLsum"], use_stemmer=True)


def rouge(prediction: str, answers) -> dict[str, float]:
    """ROUGE-L and ROUGE-Lsum F1 / recall with stemming, max over golds (HELMET's `calculate_metrics`)."""
    scores = [_rouge_scorer().score(target=g, prediction=prediction) for g in _golds(answers)]
    out = {}
    for k in ("rougeL", "rougeLsum"):
        out[f"{k}_f1"] = max(s[k].fmeasure for s in scores)
        out[f"{k}_recall"] = max(s[k].recall for s in scores)
    return out


def calculate_metrics(prediction: str, answers, with_rouge: bool = True) -> dict[str, float]:
    """EM, token F1, SubEM (and ROUGE) of one prediction against its golds."""
    out = {
        "exact_match": exact_match(prediction, answers),
        "f1": token_f1(prediction, answers),
        "substring_exact_match": substring_exact_match(prediction, answers),
    }
    if with_rouge:
        out.update(rouge(prediction, answers))
    return out


def parse_output(output: str, prefix: str = "Answer:") -> str | None:
    """The text after the answer prefix up to the first newline, else the first line (HELMET's `parse_output`).
    A repeated prefix at the start is stripped again (chat models often echo it)."""
    patterns = [re.compile(f"(?:{re.escape(prefix)})(.*)(?:\n|$)", flags=re.IGNORECASE),
                re.compile(r"(?:^)(.*)(?:\n|$)")]
    for pat in patterns:
        m = pat.search(output)
        if m is not None:
            return re.sub(f"^{re.escape(prefix)}", "", m[1].strip(), flags=re.IGNORECASE).strip()
    return None


def score_raw_and_parsed(output: str, answers, prefix: str = "Answer:",
                         with_rouge: bool = True) -> tuple[dict[str, float], str | None]:
    """Score the raw output and the parsed one, keeping the better value of every metric."""
    mets = calculate_metrics(output, answers, with_rouge)
    parsed = parse_output(output, prefix)
    if parsed is not None:
        new = calculate_metrics(parsed, answers, with_rouge)
        mets = {k: max(v, new[k]) for k, v in mets.items()}
    return mets, parsed


def ruler_recall(output: str, answers: list[str]) -> float:
    """Fraction of gold values whose lower-case form is a substring of the lower-case output."""
    answers = _golds(answers)
    low = output.lower()
    return sum(a.lower() in low for a in answers) / len(answers)


# ---- ranking metrics (Re-rank) -----------------------------------------------------------------------------------
class _neg_key(str):
    """Sort key that orders strings descending (trec_eval breaks score ties by docno, descending)."""

    def __lt__(self, other):  # type: ignore[override]
        return str.__gt__(self, other)


def trec_ranking(scores: dict[str, float]) -> list[str]:
    """Doc ids in trec_eval's order: score descending, ties broken by doc id descending."""
    return [d for d, _ in sorted(scores.items(), key=lambda kv: (-kv[1], _neg_key(kv[0])))]


def ndcg_at_k(scores: dict[str, float], qrels: dict[str, int], k: int = 10) -> float:
    """trec_eval ndcg_cut_k for one query: retrieved docs sorted by score desc (ties: doc id desc, as trec_eval),
    gain = relevance label, discount log2(rank + 1); the ideal ranking uses all judged relevances."""
    ranked = trec_ranking(scores)[:k]
    dcg = sum(qrels.get(doc, 0) / math.log2(i + 2) for i, doc in enumerate(ranked))
    ideal = sorted((v for v in qrels.values() if v > 0), reverse=True)[:k]
    idcg = sum(v / math.log2(i + 2) for i, v in enumerate(ideal))
    return dcg / idcg if idcg > 0 else 0.0


def recall_at_k(scores: dict[str, float], qrels: dict[str, int], k: int = 10) -> float:
    """Fraction of the relevant docs (label > 0) among the top k of the ranking (0 when none is relevant)."""
    top = trec_ranking(scores)[:k]
    n_rel = sum(1 for v in qrels.values() if v > 0)
    return sum(qrels.get(d, 0) > 0 for d in top) / n_rel if n_rel else 0.0
