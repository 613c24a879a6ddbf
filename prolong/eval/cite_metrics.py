"""HELMET's Cite metrics (eval_alce.py, after ALCE): STR-EM (ASQA), QAMPARI recall-top-5, citation recall and
precision judged by an NLI model.

Per item, as eval_alce.py computes before averaging (x100 there, x100 in the runner here):
- the output's newlines become spaces and "<|im_end|>" is dropped; citations "[n]" are removed for the answer
  metrics (`remove_citations`), kept for the citation metrics;
- ASQA `str_em`: the fraction of the item's QA pairs with some normalised short answer in the normalised output
  (`str_hit`: 1 when all are);
- QAMPARI: the output split at commas (after stripping a final "." / ","), each part normalised, empty parts
  dropped; `qampari_rec_top5` = min(5, golds found) / min(5, golds), a gold found when any of its aliases is a part;
- citations: the output in sentences (QAMPARI: "question + part" per comma-separated part); per sentence the cited
  ids "[n" (at most 3), recall = the NLI model finds the joint cited passages entail the sentence (no citation or
  one out of range: 0); precision over each multi-citation sentence that is supported: a cited passage counts
  unless it neither entails the sentence alone nor is needed (the others alone still entail it); item precision =
  entailed citations / total citations (0 with none); an item without sentences gets no citation metrics.
The NLI model (HELMET: google/t5_xxl_true_nli_mixture) answers "1" to "premise: P hypothesis: H"; any callable
`(premise, hypothesis) -> bool` will do (`prolong.eval.nli.Seq2SeqNLI` runs one from a local folder).
"""

from __future__ import annotations

import re
from typing import Any, Callable

from prolong.eval.metrics import normalize_answer
from prolong.eval.sentences import sentences

NLI = Callable[[str, str], bool]
"(premise, hypothesis) -> entailed"
AT_MOST_CITATIONS = 3
"eval_alce.py --at_most_citations default"


def remove_citations(sent: str) -> str:
    """HELMET utils.remove_citations: drop " [n", "[n", " |" and "]"."""
    return re.sub(r"\[\d+", "", re.sub(r" \[\d+", "", sent)).replace(" |", "").replace("]", "")


def clean_output(output: str) -> str:
    """eval_alce.py's first step: newlines to one space, the ChatML end marker dropped."""
    return re.sub(r"\n+", " ", output).replace("<|im_end|>", "")


def _exact_presence(short_answers: list[str], context: str) -> bool:
    n_context = normalize_answer(context)
    return any(normalize_answer(sa) in n_context for sa in short_answers)


def str_em(output: str, qa_pairs: list[dict[str, Any]]) -> dict[str, float]:
    hits = [_exact_presence(qa["short_answers"], output) for qa in qa_pairs]
    em = sum(hits) / len(hits)
    return {"str_em": em, "str_hit": float(em == 1)}


def qampari_scores(output: str, answers: list[list[str]]) -> dict[str, float]:
    preds = [normalize_answer(x.strip()) for x in output.rstrip().rstrip(".").rstrip(",").split(",")]
    preds = [p for p in preds if p]
    golds = [[normalize_answer(x) for x in ans] for ans in answers]
    flat = [a for sub in golds for a in sub]
    prec = sum(p in flat for p in preds) / len(preds) if preds else 0.0
    found = sum(any(x in preds for x in a) for a in golds)
    rec, rec5 = found / len(golds), min(5, found) / min(5, len(golds))
    f1 = 2 * prec * rec / (prec + rec) if prec + rec else 0.0
    f1_5 = 2 * prec * rec5 / (prec + rec5) if prec + rec5 else 0.0
    return {"num_preds": float(len(preds)), "qampari_prec": prec, "qampari_rec": rec, "qampari_rec_top5": rec5,
            "qampari_f1": f1, "qampari_f1_top5": f1_5}


def _doc(d: dict[str, Any]) -> str:
    return "Title: %s\n%s" % (d["title"], d["sent"] if "sent" in d else d["text"])


def citation_scores(output: str, docs: list[dict[str, Any]], nli: NLI, question: str = "",
                    qampari: bool = False) -> dict[str, float]:
    """Citation recall and precision of one item ({} when the output has no sentence, as HELMET skips it)."""
    if qampari:
        sents = [question + " " + x.strip() for x in output.rstrip().rstrip(".").rstrip(",").split(",")]
    else:
        sents = [x for x in sentences(output) if len(x.strip()) >= 5]  # "1." is no sentence
    if not sents:
        return {}
    entail = entail_prec = total = 0
    for sent in sents:
        target = remove_citations(sent).strip()
        ref = [int(r[1:]) - 1 for r in re.findall(r"\[\d+", sent)]
        if not ref or any(r >= len(docs) for r in ref):
            joint = 0
        else:
            ref = ref[:AT_MOST_CITATIONS]
            total += len(ref)
            joint = int(nli("\n".join(_doc(docs[r]) for r in ref), target))
        entail += joint
        if joint and len(ref) > 1:
            for r in ref:
                if nli(_doc(docs[r]), target):
                    entail_prec += 1
                else:
                    rest = list(ref)  # eval_alce removes the first occurrence only
                    rest.remove(r)
                    if not nli("\n".join(_doc(docs[x]) for x in rest), target):
                        entail_prec += 1  # needed: the others alone do not entail the sentence
        else:
            entail_prec += joint
    return {"citation_rec": entail / len(sents), "citation_prec": entail_prec / total if total else 0.0}
