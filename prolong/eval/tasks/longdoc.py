"""QA (NarrativeQA, InfiniteBench QA / MC) and Summarization (Multi-LexSum, InfiniteBench Sum): one long document
truncated to the input length, prompted with the chat template, judged by a model (see `prolong.eval.judge`) or,
without a judge, scored by ROUGE-L F1 (QA, Summ) and EM (InfiniteBench MC) under their own names.

Files (one JSON object per line):
  narrativeqa.jsonl      {"context": str, "question": str, "answers": [str, ...]}
  infbench_qa.jsonl      InfiniteBench's own format {"id", "context", "input", "answer": [str], "options": []}
  infbench_mc.jsonl      same, "options": [4 strings], "answer": [the correct option's text]
  multi_lexsum.jsonl     {"context": str (sources joined by blank lines) or "sources": [str], "summary" (or
                         "summary/short"): str, "summary_long" (or "summary/long"): str, "keypoints" (or
                         "summary/short_keypoints"): [str]} -- the judge needs the key points (recall) and the long
                         summary (precision), as HELMET's eval_gpt4_summ.py
  infbench_sum.jsonl     InfiniteBench format; "answer": [reference summary]; the judge's key points from the row's
                         "keypoints" or, as HELMET reads them, from `infbench/longbook_sum_eng_keypoints.jsonl`
                         ({"id", "keypoints"}, HELMET's released data) or `longdoc/infbench_sum_keypoints.jsonl`
Items and demos as HELMET's loaders (`select_items`, `item_demos`): NarrativeQA's test split shuffled with the seed,
then its documents of more than 131,072 tokens kept, the first n taken; Multi-LexSum's validation split and
InfiniteBench filtered to documents of at least 65,536 tokens (`longdoc_min_tokens`, counted with `doc_tokenizer`),
then `shuffle(seed).select(n)`. Demos (question/answer or summary only, never a document) from the train split
(`<name>_train.jsonl`) for NarrativeQA / Multi-LexSum, HELMET's fixed-seed pick from the other rows for
InfiniteBench; without a train file, `<name>_demo.jsonl`, else the other items (the tiny suite; each item records
its `demo_source`). InfiniteBench Sum is parsed after "Answer:" as HELMET's default post-processing does. The
document is cut to HELMET's fixed token count (scripts/generate_configs.py): length - 200 - generation length for
NarrativeQA and InfiniteBench, length - 300 - 400 for Multi-LexSum, with `truncate_llama2`'s rule; the whole prompt is then cut to
length - generation length like every task.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prolong.eval import prompts as P
from prolong.eval.categories import HELMET_CATEGORIES, QA, SUMM
from prolong.eval.metrics import calculate_metrics, parse_output, score_raw_and_parsed
from prolong.eval.tasks.base import EvalItem, TaskSpec, hf_shuffle_select, stable_seed
from prolong.eval.tasks.common import read_jsonl
from prolong.eval.tasks.registry import register

if TYPE_CHECKING:
    from prolong.eval.config import EvalConfig

QA_DATASETS = tuple(HELMET_CATEGORIES[QA])  # membership is defined once, in prolong.eval.categories
SUMM_DATASETS = tuple(HELMET_CATEGORIES[SUMM])
LONGDOC_DATASETS = QA_DATASETS + SUMM_DATASETS


def _rows(name: str, path: Path) -> list[dict[str, Any]]:
    """Normalise every format to {"context", "question", "answers", "options"?, "keypoints"?, "id"}."""
    out = []
    for i, r in enumerate(read_jsonl(path)):
        if name == "narrativeqa":
            out.append({"id": str(r.get("id", i)), "context": r["context"], "question": r["question"],
                        "answers": list(r["answers"])})
        elif name == "multi_lexsum":
            ctx = r["context"] if "context" in r else "\n\n".join(r["sources"])
            short = r["summary"] if "summary" in r else r["summary/short"]
            out.append({"id": str(r.get("id", i)), "context": ctx, "question": "", "answers": [short],
                        "keypoints": r.get("keypoints", r.get("summary/short_keypoints")),
                        "summary_long": r.get("summary_long", r.get("summary/long"))})
        else:  # InfiniteBench
            row = {"id": str(r.get("id", i)), "context": r["context"], "question": r.get("input", ""),
                   "answers": list(r["answer"]), "keypoints": r.get("keypoints")}
            if name == "infbench_mc":
                opts = list(r["options"])
                letter = chr(ord("A") + opts.index(r["answer"][0]))
                row["options"] = "A. {}\nB. {}\nC. {}\nD. {}".format(*opts)
                row["answers"] = [letter, f"{letter}. {r['answer'][0]}"]
            out.append(row)
    return out


def keypoints_file(path: Path) -> Path | None:
    """InfiniteBench Sum's key points: HELMET ships them apart from the data (eval_gpt4_summ.py reads
    data/infbench/longbook_sum_eng_keypoints.jsonl by id); the project's layout may put them beside the file."""
    for f in (path.with_name("infbench_sum_keypoints.jsonl"),
              path.parent.parent / "infbench" / "longbook_sum_eng_keypoints.jsonl"):
        if f.is_file():
            return f
    return None


def _with_keypoints(rows: list[dict], path: Path) -> list[dict]:
    """Rows without key points get them from the keypoints file, matched by id (ids compared as strings, the rows'
    normal form); a row the file lacks keeps none and the judge then names what is missing."""
    f = keypoints_file(path)
    if f is None:
        return rows
    by_id = {str(r["id"]): r["keypoints"] for r in read_jsonl(f)}
    return [r if r.get("keypoints") else {**r, "keypoints": by_id.get(r["id"])} for r in rows]


def _demos(name: str, demos: list[dict]) -> str:
    if not demos:
        return ""
    if name == "narrativeqa":
        body = "\n\n".join(f"Question: {d['question']}\nAnswer: {d['answers'][0]}" for d in demos)
        return P.NARRATIVEQA_DEMOS_HEAD + body + P.NARRATIVEQA_DEMOS_TAIL
    if name == "multi_lexsum":
        body = "\n\n".join(f"Summary: {d['answers'][0]}" for d in demos)
        return P.MULTI_LEXSUM_DEMOS_HEAD + body + P.MULTI_LEXSUM_DEMOS_TAIL
    if name == "infbench_qa":
        body = "\n\n".join(f"[story text]\nQuestion: {d['question']}\nAnswer: {d['answers'][0]}" for d in demos)
    elif name == "infbench_mc":
        body = "\n\n".join(f"[story text]\nQuestion: {d['question']}\nOptions:\n{d['options']}\n"
                           f"Answer: {d['answers'][0]}" for d in demos)
    else:
        body = "\n\n".join(f"[story text]\nSummary: {d['answers'][0].strip()}" for d in demos)
    return f"For example:\n\n{body}\n\nNow, read the following story:\n\n"


def _spec(name: str, max_new_tokens: int | None) -> TaskSpec:
    if name in ("narrativeqa", "infbench_qa"):
        user = P.NARRATIVEQA_USER if name == "narrativeqa" else P.INFBENCH_QA_USER

        def score(output, item):
            return score_raw_and_parsed(output, item.answers, P.QA_PREFIX)

        # HELMET generate_configs.py: NarrativeQA 100 new tokens, InfiniteBench QA 10
        return TaskSpec(name, QA, user, P.QA_PREFIX, max_new_tokens or (100 if name == "narrativeqa" else 10),
                        "rougeL_f1", score, chat=True, judged=name == "narrativeqa")
    if name == "infbench_mc":
        def score_mc(output, item):
            # HELMET's choice_post_process: EM on raw/parsed, substring match only for "A. option text"
            mets = calculate_metrics(output, item.answers, with_rouge=False)
            parsed = parse_output(output, P.QA_PREFIX)
            if parsed is not None:
                new = calculate_metrics(parsed, item.answers, with_rouge=False)
                mets = {k: max(v, new[k]) for k, v in mets.items()}
            mets["substring_exact_match"] = float(item.answers[1].lower() in output.lower())
            if mets["substring_exact_match"]:
                mets["exact_match"] = 1.0
            return mets, parsed

        return TaskSpec(name, QA, P.INFBENCH_MC_USER, P.QA_PREFIX, max_new_tokens or 10, "exact_match", score_mc,
                        chat=True)
    user = P.MULTI_LEXSUM_USER if name == "multi_lexsum" else P.INFBENCH_SUM_USER

    # Multi-LexSum parses after "Summary:"; InfiniteBench Sum takes HELMET's default_post_process, "Answer:"
    summ_prefix = P.SUMM_PREFIX if name == "multi_lexsum" else P.QA_PREFIX

    def score_sum(output, item):
        return score_raw_and_parsed(output, item.answers, summ_prefix)

    return TaskSpec(name, SUMM, user, P.SUMM_PREFIX, max_new_tokens or (400 if name == "multi_lexsum" else 1200),
                    "rougeL_f1", score_sum, chat=True, sep="\n\n", judged=True)


def doc_tokens(name: str, length: int, max_new_tokens: int) -> int:
    """HELMET's document budget (generate_configs.py `name_postfix`): Multi-LexSum length - 300 - 400, the others
    length - 200 - generation length (NarrativeQA at 128K: 130772)."""
    return length - 300 - max_new_tokens if name == "multi_lexsum" else length - 200 - max_new_tokens


def _demo_pool(name: str, path: Path, rows: list[dict]) -> tuple[list[dict], str]:
    """Where the demos come from: HELMET's train split for NarrativeQA and Multi-LexSum (`<name>_train.jsonl`),
    InfiniteBench's own rows (HELMET draws them from the test data itself); else `<name>_demo.jsonl`, else the other
    test items (the tiny suite)."""
    for suffix in ("train", "demo"):
        f = path.with_name(f"{name}_{suffix}.jsonl")
        if f.is_file() and not name.startswith("infbench"):
            return _rows(name, f), suffix
    return rows, "test"


def _long_enough(rows: list[dict], tokenizer, min_tokens: int) -> list[dict]:
    """HELMET's filter_length: documents of at least `min_tokens` tokens, counted with special tokens (BOS) as its
    `len(tokenizer(x)['input_ids'])` does."""
    if min_tokens <= 0:
        return rows
    return [r for r in rows if len(tokenizer(r["context"])["input_ids"]) >= min_tokens]


def select_items(name: str, rows: list[dict], tokenizer, num_samples: int | None, seed: int,
                 min_tokens: int = 0) -> list[dict]:
    """HELMET's test items. NarrativeQA: `test.shuffle(seed)`, then the length filter, then the first n;
    Multi-LexSum (validation split) and InfiniteBench: the length filter, then `shuffle(seed).select(n)` (Multi-LexSum
    only when more than n remain)."""
    if name == "narrativeqa":
        kept = _long_enough(hf_shuffle_select(rows, None, seed), tokenizer, min_tokens)
        return kept if num_samples is None else kept[:num_samples]
    kept = _long_enough(rows, tokenizer, min_tokens)
    if name == "multi_lexsum" and (num_samples is None or len(kept) <= num_samples):
        return kept
    return hf_shuffle_select(kept, num_samples, seed)


def item_demos(name: str, r: dict, pool: list[dict], source: str, shots: int, seed: int) -> list[dict]:
    """InfiniteBench (HELMET's fixed-seed pick): `data.filter(id != item id).shuffle(seed=seed).select(shots)`;
    the others: `shots` rows of the pool drawn with a generator seeded by the item's id and the run's seed (HELMET
    shuffles its train split without a seed, which no rerun reproduces)."""
    if not shots:
        return []
    others = [d for d in pool if source != "test" or d["id"] != r["id"]]
    if name.startswith("infbench"):
        return hf_shuffle_select(others, shots, seed)
    return random.Random(stable_seed(r["id"], seed)).sample(others, min(shots, len(others)))


def longdoc(name: str, path: str | Path, tokenizer, length: int, num_samples: int | None, seed: int = 42,
            shots: int = 2, max_new_tokens: int | None = None,
            doc_tokenizer=None, min_tokens: int = 0) -> tuple[TaskSpec, list[EvalItem]]:
    """`doc_tokenizer` cuts and counts the documents (HELMET: Llama-2's tokenizer for every model); default:
    `tokenizer`. `min_tokens`: HELMET's length filter (0 = none)."""
    path = Path(path)
    rows = _rows(name, path)
    if name == "infbench_sum":
        rows = _with_keypoints(rows, path)
    pool, source = _demo_pool(name, path, rows)
    test = select_items(name, rows, doc_tokenizer or tokenizer, num_samples, seed, min_tokens)
    if not test:
        raise ValueError(f"{path}: no {name} document has {min_tokens} tokens or more (HELMET's length filter, "
                         f"`longdoc_min_tokens`)")
    spec = _spec(name, max_new_tokens)
    if getattr(tokenizer, "chat_template", None) is None:
        spec.chat = False  # a base model without a template: plain prompt + answer prefix (recorded in args)
    budget = max(doc_tokens(name, length, spec.max_new_tokens), 1)
    items = []
    for r in test:
        demos = item_demos(name, r, pool, source, shots, seed)
        fields = {"demos": _demos(name, demos), "question": r["question"],
                  "context": P.truncate_document(doc_tokenizer or tokenizer, r["context"], budget)}
        if "options" in r:
            fields["options"] = r["options"]
        items.append(EvalItem(fields, r["answers"], {"id": r["id"], "keypoints": r.get("keypoints"),
                                                     "summary_long": r.get("summary_long"), "demo_source": source}))
    return spec, items


_DOC_TOKENIZERS: dict[str, Any] = {}


def load_doc_tokenizer(name: str) -> Any | None:
    """HELMET cuts QA/Summ documents with Llama-2's tokenizer for every model; `doc_tokenizer` names it (or '')."""
    if not name:
        return None
    if name not in _DOC_TOKENIZERS:
        from transformers import AutoTokenizer

        _DOC_TOKENIZERS[name] = AutoTokenizer.from_pretrained(name)
    return _DOC_TOKENIZERS[name]


def _build(name: str, tokenizer, length: int, cfg: EvalConfig) -> tuple[TaskSpec, list[EvalItem]]:
    # documents are cut to HELMET's fixed budget, never sized by `counts`
    return longdoc(name, cfg.data_root() / "longdoc" / f"{name}.jsonl", tokenizer, length, cfg.num_samples,
                   cfg.seed, cfg.shots, cfg.max_new_tokens.get(name),
                   doc_tokenizer=load_doc_tokenizer(cfg.doc_tokenizer),
                   min_tokens=cfg.longdoc_min_tokens.get(name, 0))


register(QA_DATASETS, QA)(_build)
register(SUMM_DATASETS, SUMM)(_build)
