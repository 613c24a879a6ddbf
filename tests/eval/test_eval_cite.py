"""Cite (ALCE): eval_alce.py's metrics on hand-made cases, with a word-overlap stand-in for the NLI model, and the
items of `load_alce` (HELMET's data.py, re-implemented here from its source) on fixtures in HELMET's format."""

from __future__ import annotations

import json
import random
import re

from prolong.eval import prompts as P
from prolong.eval.aggregate import category_scores
from prolong.eval.categories import HELMET_CATEGORIES
from prolong.eval.cite_metrics import citation_scores, clean_output, qampari_scores, remove_citations, str_em
from prolong.eval.tasks import cite
from prolong.eval.tasks.base import hf_shuffle_select


def word_nli(premise: str, hypothesis: str) -> bool:
    """Entailed when every word of the hypothesis occurs in the premise (a deterministic stand-in for T5-TRUE)."""
    words = lambda s: set(re.findall(r"[a-z0-9]+", s.lower()))  # noqa: E731
    return words(hypothesis) <= words(premise)


DOCS = [{"title": "Tower", "text": "The tower is in Paris and was built in 1889."},
        {"title": "Bridge", "text": "A bridge crosses the river."},
        {"title": "Park", "text": "The park opened in 1901."}]


def test_str_em_and_remove_citations():
    out = clean_output("The tower is in Paris [1].\n\nIt was built in 1889 [2][3].<|im_end|>")
    assert out == "The tower is in Paris [1]. It was built in 1889 [2][3]."
    plain = remove_citations(out)
    assert plain == "The tower is in Paris. It was built in 1889."
    assert str_em(plain, [{"short_answers": ["Paris"]}, {"short_answers": ["1887", "eighteen"]}]) == \
        {"str_em": 0.5, "str_hit": 0.0}
    assert str_em(plain, [{"short_answers": ["paris!"]}, {"short_answers": ["1889"]}])["str_hit"] == 1.0


def test_citation_recall_and_precision():
    # sentence 1 cites a passage that supports it; sentence 2 cites one that does not
    s = citation_scores("The tower is in Paris [1]. The tower was built in 1889 [2].", DOCS, word_nli)
    assert s == {"citation_rec": 0.5, "citation_prec": 0.5}
    # two citations, jointly supported, one unnecessary (the other alone entails): recall 1, precision 1/2
    s = citation_scores("The tower is in Paris [1][2].", DOCS, word_nli)
    assert s == {"citation_rec": 1.0, "citation_prec": 0.5}
    # both needed: neither alone entails, the pair does -> both count
    s = citation_scores("The tower and the park opened in 1901 [1][3].", DOCS, word_nli)
    assert s == {"citation_rec": 1.0, "citation_prec": 1.0}
    # no citation, or one out of range: not supported, and an out-of-range id is no citation counted
    s = citation_scores("The tower is in Paris. The bridge crosses the river [7].", DOCS, word_nli)
    assert s == {"citation_rec": 0.0, "citation_prec": 0.0}
    # at most three citations are read
    s = citation_scores("The tower is in Paris [2][2][2][1].", DOCS, word_nli)
    assert s["citation_rec"] == 0.0
    assert citation_scores("1.", DOCS, word_nli) == {}  # no sentence of 5 characters: no citation metrics


def test_qampari_scores_and_citations():
    golds = [["Paris"], ["Lyon"], ["Nice", "Nizza"], ["Lille"], ["Metz"], ["Brest"], ["Tours"]]
    s = qampari_scores("Paris, Nizza, Lyon, Berlin.", golds)
    assert s["qampari_rec_top5"] == 3 / 5 and s["qampari_prec"] == 3 / 4 and s["num_preds"] == 4
    assert qampari_scores("Paris", [["paris"]])["qampari_rec_top5"] == 1.0
    docs = [{"title": "Paris", "text": "which cities Paris"}, {"title": "Lyon", "text": "which cities Lyon"}]
    s = citation_scores("Paris [1], Lyon [1].", docs, word_nli, question="Which cities", qampari=True)
    assert s == {"citation_rec": 0.5, "citation_prec": 0.5}


# ---- HELMET's load_alce on fixtures in its format ---------------------------------------------------------------
def helmet_load_alce(rows, prompts, shots, seed, n, num_docs):
    random.seed(seed)  # eval.py: random.seed(args.seed) before load_data
    out = []
    for example in rows:  # data.map(preprocess_example), in file order
        doc_prompt = prompts["doc_prompt"]
        context = "\n\n".join([doc_prompt.format(**d, ID=idx + 1) for idx, d in enumerate(example["docs"][:num_docs])])
        demo_text = "\n\n\n".join([
            prompts["demo_prompt"].format(**demo, instruction=prompts["instruction"], context="\n\n".join(
                [doc_prompt.format(**d, ID=idx + 1) for idx, d in enumerate(demo["docs"])]))
            for demo in random.sample(prompts["demos"], shots)])
        if shots > 0:
            demo_text += "\n\n\n"
        out.append({**example, "context": context, "demo_text": demo_text, "instruction": prompts["instruction"]})
    return hf_shuffle_select(out, n, seed)


def _fixtures(tmp_path):
    rng = random.Random(0)
    docs = lambda k: [{"title": f"T{rng.randint(0, 99)}", "text": f"text {rng.random():.6f}"} for _ in range(k)]  # noqa
    rows = [{"question": f"Question {i}?", "answer": f"Answer {i}.", "docs": docs(12),
             "qa_pairs": [{"short_answers": [f"a{i}"]}]} for i in range(9)]
    prompts = {"instruction": "Instruction: Write an accurate answer and cite.", "demo_sep": "\n\n\n",
               "demo_prompt": "{instruction}\n\nQuestion: {question}\n\n{context}\n\nAnswer: {answer}",
               "doc_prompt": "Document [{ID}](Title: {title}): {text}",
               "demos": [{"question": f"Demo {j}?", "answer": f"Demo answer {j} [1].", "docs": docs(3)}
                         for j in range(4)]}
    (tmp_path / "alce").mkdir()
    (tmp_path / "prompts").mkdir()
    (tmp_path / "alce" / "asqa_eval_gtr_top2000.json").write_text(json.dumps(rows))
    (tmp_path / "prompts" / "asqa_revised.json").write_text(json.dumps(prompts))
    return rows, prompts


def test_alce_items_are_helmets(tmp_path):
    rows, prompts = _fixtures(tmp_path)
    spec, items = cite.alce("alce_asqa", tmp_path, None, 4096, 5, seed=42, shots=2, num_docs=8)
    ref = helmet_load_alce(rows, prompts, 2, 42, 5, 8)
    assert spec.chat is False  # no tokenizer template here; with one, the chat template (HELMET's use_chat_template)
    for it, r in zip(items, ref, strict=True):
        user = it.fields["demo_text"] + it.fields["instruction"] + "\n\nQuestion: " + it.fields["question"] + \
            "\n\n" + it.fields["context"]
        helmet_user = "{demo_text}{instruction}\n\nQuestion: {question}\n\n{context}".format(**r)
        assert user == helmet_user
        text, _ = P.format_prompt(None, spec.user_template, spec.prefix_template, it.fields, False, spec.sep)
        assert text == helmet_user + "\n\nAnswer:"  # HELMET's prompt_template: user + "\n\n" + system
        assert len(it.extra["docs"]) == 8


def test_cite_without_nli_is_reported_missing_not_zero(tmp_path):
    rows, _ = _fixtures(tmp_path)
    spec, items = cite.alce("alce_asqa", tmp_path, None, 4096, 3, num_docs=2)
    mets, _ = spec.score("a0 is the answer [1].", items[0])
    assert "citation_rec" not in mets and set(mets) == {"str_em", "str_hit"}
    spec, items = cite.alce("alce_asqa", tmp_path, None, 4096, 3, num_docs=2, nli=word_nli)
    assert {"citation_rec", "citation_prec"} <= set(spec.score("a0 is the answer [1].", items[0])[0])
    res = {("alce_asqa", 8192): {"averaged_metrics": {"str_em": 40.0, "main_metric": "str_em"}},
           ("alce_qampari", 8192): {"averaged_metrics": {"qampari_rec_top5": 20.0, "citation_rec": 50.0,
                                                         "citation_prec": 60.0, "main_metric": "qampari_rec_top5"}}}
    scores, report = category_scores(res, {"Cite": HELMET_CATEGORIES["Cite"]}, [8192])
    assert scores["Cite"] == (40 + 20 + 50 + 60) / 4  # the four columns there, as collect_results' mean
    assert report["lengths"]["8192"]["Cite"]["missing"] == ["alce_asqa citation_prec", "alce_asqa citation_rec"]
