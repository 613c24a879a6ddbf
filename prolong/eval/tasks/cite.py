"""Cite: ALCE ASQA and QAMPARI, HELMET's seventh category (`load_alce` in data.py, scored as eval_alce.py).

Files, as HELMET ships them: `alce/{asqa,qampari}_eval_gtr_top2000.json` (a JSON list of {"question", "answer",
"qa_pairs" (ASQA), "answers" (QAMPARI: a list of alias lists), "docs": [{"title", "text"}, ...]}) and the prompt files
of HELMET's repository, `prompts/{asqa,qampari}_revised.json` ({"instruction", "demo_prompt", "doc_prompt", "demos"}),
looked up under the data folder's `prompts/` (or `alce/`). As HELMET:
- the number of documents per length is HELMET's (`alce_asqa_700` at 128K: 8/30/75/165/345/700 at 4K-128K), fitted
  to the length elsewhere; documents "Document [i](Title: t): text", numbered from 1;
- demos: `random.sample(demos, shots)` per item, in file order, from Python's generator seeded with the run's seed
  (eval.py's `random.seed(args.seed)` before the map), each demo with all its documents; then the test items are
  `shuffle(seed).select(n)`;
- chat template, 300 new tokens, no newline stop; the answer metrics always, the citation metrics only with an NLI
  model (`cite_nli_model`, a local path): without one they are absent, and the Cite category reports them missing.
"""

from __future__ import annotations

import json
import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

from prolong.eval.categories import CITE, HELMET_CATEGORIES
from prolong.eval.cite_metrics import NLI, citation_scores, clean_output, qampari_scores, remove_citations, str_em
from prolong.eval.nli import Seq2SeqNLI
from prolong.eval.tasks.base import EvalItem, TaskSpec, hf_shuffle_select
from prolong.eval.tasks.common import choose_count
from prolong.eval.tasks.registry import register

if TYPE_CHECKING:
    from prolong.eval.config import EvalConfig

CITE_DATASETS = tuple(HELMET_CATEGORIES[CITE])
USER = "{demo_text}{instruction}\n\nQuestion: {question}\n\n{context}"
PREFIX = "Answer:"
ALCE_DOCS = {4096: 8, 8192: 30, 16384: 75, 32768: 165, 65536: 345, 131072: 700}
"HELMET's documents per input length (generate_configs.py name_postfix)"


def _read_json(path: Path, dataset: str) -> Any:
    if not path.is_file():
        raise FileNotFoundError(f"{path}: data file of {dataset} not found (HELMET's data/alce/ and prompts/)")
    try:
        return json.loads(path.read_text())
    except json.JSONDecodeError as err:
        raise ValueError(f"{path}: not valid JSON ({err})") from None


def prompt_file(data_dir: Path, stem: str) -> Path:
    for sub in ("prompts", "alce"):
        if (data_dir / sub / f"{stem}_revised.json").is_file():
            return data_dir / sub / f"{stem}_revised.json"
    return data_dir / "prompts" / f"{stem}_revised.json"


def docs_text(doc_prompt: str, docs: list[dict[str, Any]]) -> str:
    return "\n\n".join(doc_prompt.format(**d, ID=i + 1) for i, d in enumerate(docs))


def demo_texts(prompts: dict[str, Any], n_rows: int, shots: int, seed: int) -> list[str]:
    """Every row's demos, drawn in file order from one generator seeded with `seed` (HELMET: the global `random`
    after eval.py's random.seed(args.seed), consumed by `random.sample` once per row of the map)."""
    rng = random.Random(seed)
    out = []
    for _ in range(n_rows):
        chosen = rng.sample(prompts["demos"], shots)
        text = "\n\n\n".join(prompts["demo_prompt"].format(**d, instruction=prompts["instruction"],
                                                            context=docs_text(prompts["doc_prompt"], d["docs"]))
                             for d in chosen)
        out.append(text + ("\n\n\n" if shots > 0 else ""))
    return out


def _scorer(qampari: bool, nli: NLI | None):
    def score(output: str, item: EvalItem):
        out = clean_output(output)
        plain = remove_citations(out)
        mets = qampari_scores(plain, item.answers) if qampari else str_em(plain, item.extra["qa_pairs"])
        if nli is not None:
            mets.update(citation_scores(out, item.extra["docs"], nli, item.fields["question"], qampari))
        return mets, plain
    return score


def alce(name: str, data_dir: str | Path, tokenizer, length: int, num_samples: int | None, seed: int = 42,
         shots: int = 2, max_new_tokens: int = 300, num_docs: int | None = None,
         nli: NLI | None = None) -> tuple[TaskSpec, list[EvalItem]]:
    data_dir = Path(data_dir)
    stem = name.removeprefix("alce_")
    rows = _read_json(data_dir / "alce" / f"{stem}_eval_gtr_top2000.json", name)
    prompts = _read_json(prompt_file(data_dir, stem), name)
    for key in ("instruction", "demo_prompt", "doc_prompt", "demos"):
        if key not in prompts:
            raise ValueError(f"{prompt_file(data_dir, stem)}: missing key {key!r} (HELMET's prompt file format)")
    demos = demo_texts(prompts, len(rows), shots, seed)
    order = hf_shuffle_select(list(range(len(rows))), num_samples, seed)
    qampari = stem == "qampari"
    main = "qampari_rec_top5" if qampari else "str_em"
    spec = TaskSpec(name, CITE, USER, PREFIX, max_new_tokens, main, _scorer(qampari, nli), chat=True, sep="\n\n")
    if getattr(tokenizer, "chat_template", None) is None:
        spec.chat = False  # a base model: the plain prompt and answer prefix (recorded in args)

    def fields(i: int, k: int) -> dict[str, str]:
        r = rows[i]
        return {"demo_text": demos[i], "instruction": prompts["instruction"], "question": r["question"],
                "context": docs_text(prompts["doc_prompt"], r["docs"][:k])}

    first = order[0]
    k = num_docs if num_docs is not None else choose_count(tokenizer, spec, length, None, len(rows[first]["docs"]),
                                                           lambda k: fields(first, k))
    items = []
    for i in order:
        r = rows[i]
        answers = r.get("answers") if qampari else r.get("answer")
        items.append(EvalItem(fields(i, k), answers, {"qa_pairs": r.get("qa_pairs"), "docs": r["docs"][:k],
                                                      "num_docs": k}))
    return spec, items


_NLI: dict[str, NLI] = {}


@register(CITE_DATASETS, CITE)
def _build(name: str, tokenizer, length: int, cfg: EvalConfig) -> tuple[TaskSpec, list[EvalItem]]:
    nli = None
    if cfg.cite_nli_model:
        if not Path(cfg.cite_nli_model).is_dir():
            raise FileNotFoundError(f"cite_nli_model: {cfg.cite_nli_model} is not a local model folder")
        # loaded once per run for both datasets and every length (T5-XXL is 11B parameters)
        if cfg.cite_nli_model not in _NLI:
            _NLI[cfg.cite_nli_model] = Seq2SeqNLI(cfg.cite_nli_model, cfg.device)
        nli = _NLI[cfg.cite_nli_model]
    count = ALCE_DOCS.get(length) if cfg.sizing == "table" else None
    return alce(name, cfg.data_root(), tokenizer, length, cfg.num_samples, cfg.seed, cfg.shots,
                cfg.max_new_tokens.get(name) or 300, count, nli)
