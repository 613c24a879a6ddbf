"""Recall: JSON KV and the RULER needle tasks (MK-needle, MK-UUID, MV), plus the passkey NIAH. All generated
offline from a seed and sized for any tokenizer and input length by binary search on the number of haystack units
so that the prompt fills `length - max_new_tokens` tokens.

The count is found on one sample (or taken from HELMET's table), but items differ in their random keys and values
and so in their token counts: an item over the budget is then shrunk, on its own, until its prompt fits (to the
largest haystack that does, or a unit under; `common.fit_item`, as RULER's generator lowers `num_haystack` per
sample). Without that the runner would cut it at the context's end, deleting the gold of an item whose needle
sits at depth 1.0. The gold's depth is relative to the item's own count, so it survives the shrinking.
"""

from __future__ import annotations

import json
import random
import re
import uuid
from pathlib import Path
from typing import TYPE_CHECKING

from prolong.eval import prompts as P
from prolong.eval.categories import HELMET_CATEGORIES, NIAH, RECALL
from prolong.eval.metrics import ruler_recall, score_raw_and_parsed
from prolong.eval.helmet_format import JSON_KV_KS
from prolong.eval.sentences import sentences
from prolong.eval.tasks.base import EvalItem, TaskSpec, fit_count, hf_shuffle_select
from prolong.eval.tasks.common import fit_item, prompt_len, read_jsonl, table_count
from prolong.eval.tasks.registry import register
from prolong.eval.words import FILLER, essay_sentence, word_pair

if TYPE_CHECKING:
    from prolong.eval.config import EvalConfig

DEPTHS = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)  # the gold's relative position, cycled over items


def _uuid(rng: random.Random) -> str:
    return str(uuid.UUID(int=rng.getrandbits(128), version=4))


def _size(tokenizer, spec: TaskSpec, length: int, make_fields, fixed: int | None) -> int:
    """Number of haystack units: `fixed` (HELMET's table) or the largest that fits the budget."""
    if fixed is not None:
        return fixed
    budget = length - spec.max_new_tokens
    return fit_count(lambda n: prompt_len(tokenizer, spec, make_fields(n, random.Random(0), 0)), budget)


def _item_rng(seed: int, i: int) -> random.Random:
    """Item i's generator, re-created for every trial size so that a shrunk item keeps its seed."""
    return random.Random(seed * 100003 + i)


# ---- JSON KV ---------------------------------------------------------------------------------------------------
def json_kv_context(pairs: list[tuple[str, str]]) -> str:
    """lost-in-the-middle's KV layout (HELMET's prompt comes from it): '{' before the first pair, a space before
    every later one, ',\\n' between pairs and '}' after the last."""
    return "JSON data:\n{" + ",\n ".join(f'"{k}": "{v}"' for k, v in pairs) + "}"


def json_kv_demos(demos: list[tuple[str, str]]) -> str:
    """HELMET's demos: 'Key: {key}\\nCorresponding value:' + ' ' + value, joined by blank lines, a blank line after."""
    return "\n\n".join(P.JSON_KV_DEMO.format(key=k, value=v) for k, v in demos) + ("\n\n" if demos else "")


def json_kv_fields(n: int, rng: random.Random, i: int, shots: int = 2) -> tuple[dict[str, str], str]:
    pairs = [(_uuid(rng), _uuid(rng)) for _ in range(n)]
    gold = round(DEPTHS[i % len(DEPTHS)] * (n - 1))
    others = [j for j in range(n) if j != gold]
    demo_idx = rng.sample(others, min(shots, len(others)))
    # the key is quoted in the question as lost-in-the-middle's prompt writes it (Key: "{key}"), and in the demos
    fields = {"context": json_kv_context(pairs),
              "demos": json_kv_demos([(f'"{pairs[j][0]}"', pairs[j][1]) for j in demo_idx]),
              "question": f'"{pairs[gold][0]}"'}
    return fields, pairs[gold][1]


JSON_KV_FILE = "json_kv/test_k{k}_dep6.jsonl"
"HELMET's released JSON KV files under its data/ (one per length: k = 50/105/220/440/900/1800 at 4K-128K)"


def json_kv_file(data_dir: str | Path | None, length: int) -> Path | None:
    """HELMET's released JSON KV file of this length under `data_dir`, if it is there."""
    if data_dir is None or length not in JSON_KV_KS:
        return None
    path = Path(data_dir) / JSON_KV_FILE.format(k=JSON_KV_KS[length])
    return path if path.is_file() else None


def json_kv_file_items(path: Path, num_samples: int | None, seed: int, shots: int) -> list[EvalItem]:
    """HELMET's `load_json_kv` on one of its files: rows {"context", "question", "answer", "demos": [[key, value],
    ...], "num_kvs"}, demos cut to `shots`, then `shuffle(seed).select(n)`."""
    rows = read_jsonl(path)
    for j, r in enumerate(rows):
        for key in ("context", "question", "answer", "demos"):
            if key not in r:
                raise ValueError(f"{path}: row {j} has no {key!r} (HELMET's json_kv format)")
    items = []
    for r in hf_shuffle_select(rows, num_samples, seed):
        answer = r["answer"] if isinstance(r["answer"], list) else [r["answer"]]
        fields = {"context": r["context"], "question": r["question"],
                  "demos": json_kv_demos([(k, v) for k, v in r["demos"][:shots]])}
        items.append(EvalItem(fields, answer, {"num_kvs": r.get("num_kvs"), "depth": r.get("depth")}))
    return items


def json_kv(tokenizer, length: int, num_samples: int, seed: int = 42, shots: int = 2,
            max_new_tokens: int = 100, count: int | None = None,
            data_dir: str | Path | None = None) -> tuple[TaskSpec, list[EvalItem]]:
    """JSON KV items: from HELMET's released file for this length when `data_dir` holds it (JSON_KV_FILE), else
    generated with `count` pairs (HELMET's table) or as many as fit."""
    def score(output: str, item: EvalItem):
        return score_raw_and_parsed(output, item.answers, P.JSON_KV_PREFIX, with_rouge=False)

    # HELMET's recall configs run with stop_new_line: false (JSON KV included)
    spec = TaskSpec("json_kv", RECALL, P.JSON_KV_USER, P.JSON_KV_PREFIX, max_new_tokens,
                    "substring_exact_match", score)
    path = json_kv_file(data_dir, length)
    if path is not None:
        return spec, json_kv_file_items(path, num_samples, seed, shots)
    n = _size(tokenizer, spec, length, lambda n, r, i: json_kv_fields(n, r, i, shots)[0], count)
    items = []
    for i in range(num_samples):
        k, fields, value = fit_item(tokenizer, spec, length, n,
                                    lambda m: json_kv_fields(m, _item_rng(seed, i), i, shots))
        items.append(EvalItem(fields, [value], {"num_kvs": k, "depth": DEPTHS[i % len(DEPTHS)]}))
    return spec, items


# ---- RULER needles ---------------------------------------------------------------------------------------------
def _ruler_score(output: str, item: EvalItem):
    return {"ruler_recall": ruler_recall(output, item.answers)}, output


RULER_DEPTHS = [int(round(d)) for d in (100 * i / 39 for i in range(40))]
"RULER niah.py's DEPTHS: np.round(np.linspace(0, 100, 40)) (percent of the essay's sentences)"
RULER_NEEDLE_SEED = 42
"RULER's --random_seed: the one seed shuffling every sample's needles (random.Random(args.random_seed).shuffle)"


def split_sentences(text: str) -> list[str]:
    """The essay in sentences (RULER: nltk's sent_tokenize; its punkt data is not downloaded here, so Punkt with
    default parameters, which differs only around abbreviations)."""
    return sentences(text)


def needles_fields(kind: str, n: int, rng: random.Random, i: int,
                   essay: list[str] | None = None) -> tuple[dict[str, str], list[str]]:
    """One RULER item (niah.py's `generate_input_output`) with a haystack of `n` units.

    MK-needle / MK-UUID (type_haystack needle): `n` needles of random keys and values, the gold needle inserted at
    `rng.sample(range(n), 1)`; MV (type_haystack essay): the first `n` words of the essay corpus (or `n` synthetic
    essay sentences when none is given), in sentences, with the 4 needles of one key (shuffled with RULER's fixed
    seed) inserted at the sentence positions of 4 depths drawn from RULER_DEPTHS. The needles say the plural
    ("One of the special magic numbers for ..."), the question the singular when one value is asked (MK), as
    RULER's generator writes them; `type_needle_v` is the question's form."""
    if kind == "mv":
        key = word_pair(rng)
        values = [str(rng.randint(1_000_000, 9_999_999)) for _ in range(4)]
        needles = [P.RULER_NEEDLE.format(type_needle_v="numbers", key=key, value=v) for v in values]
        random.Random(RULER_NEEDLE_SEED).shuffle(needles)
        if essay is not None:
            sents = split_sentences(" ".join(essay[:n]).strip())
        else:
            sents = [essay_sentence(rng) for _ in range(n)]
        cuts = [0] + sorted(int(len(sents) * d / 100) for d in rng.sample(RULER_DEPTHS, len(needles))) + [len(sents)]
        parts = []
        for j in range(1, len(cuts)):
            parts.append(" ".join(sents[cuts[j - 1]: cuts[j]]))
            if j - 1 < len(needles):
                parts.append(needles[j - 1])
        return {"context": " ".join(parts), "type_needle_v": "numbers", "query": key}, values
    plural, singular = ("numbers", "number") if kind == "mk_needle" else ("uuids", "uuid")
    keygen = (lambda: word_pair(rng)) if kind == "mk_needle" else (lambda: _uuid(rng))
    valgen = (lambda: str(rng.randint(1_000_000, 9_999_999))) if kind == "mk_needle" else (lambda: _uuid(rng))
    key, value = keygen(), valgen()
    # RULER draws haystack keys freely; a key equal to the query's would give it two answers, so redraw it
    hay = []
    while len(hay) < n:
        k = keygen()
        if k != key:
            hay.append(P.RULER_NEEDLE.format(type_needle_v=plural, key=k, value=valgen()))
    pos = rng.sample(range(n), 1)[0] if n > 0 else 0
    hay.insert(pos, P.RULER_NEEDLE.format(type_needle_v=plural, key=key, value=value))
    return {"context": "\n".join(hay), "type_needle_v": singular, "query": key}, [value]


RULER_MAX_NEW_TOKENS = {"mk_needle": 50, "mk_uuid": 100, "mv": 50}
"RULER's needle kind -> its default generation length"
# the RULER datasets of Recall are named once, in prolong.eval.categories: "ruler_<kind>"
RULER_TASKS = {n: (n.removeprefix("ruler_"), RULER_MAX_NEW_TOKENS[n.removeprefix("ruler_")])
               for n in HELMET_CATEGORIES[RECALL] if n.startswith("ruler_")}
"dataset name -> (needle kind, default generation length)"


def ruler(name: str, tokenizer, length: int, num_samples: int, seed: int = 42,
          max_new_tokens: int | None = None, count: int | None = None,
          essay: list[str] | None = None) -> tuple[TaskSpec, list[EvalItem]]:
    """`essay`: the MV haystack's words (RULER: the Paul Graham essays, whitespace-split); None = synthetic."""
    kind, default_new = RULER_TASKS[name]
    user, prefix = (P.RULER_MV_USER, P.RULER_MV_PREFIX) if kind == "mv" else (P.RULER_NIAH_USER, P.RULER_NIAH_PREFIX)
    spec = TaskSpec(name, RECALL, user, prefix, max_new_tokens or default_new, "ruler_recall", _ruler_score)
    hay = essay if kind == "mv" else None
    limit = len(hay) if hay is not None else 1 << 20  # RULER caps the essay haystack at the corpus
    n = min(limit, _size(tokenizer, spec, length, lambda n, r, i: needles_fields(kind, min(n, limit), r, i, hay)[0],
                         count))
    items = []
    for i in range(num_samples):
        k, fields, answers = fit_item(tokenizer, spec, length, n,
                                      lambda m: needles_fields(kind, m, _item_rng(seed, i), i, hay))
        depth = _gold_depth(fields["context"], answers[0])
        items.append(EvalItem(fields, answers, {"haystack_units": k, "depth": depth}))
    return spec, items


def _gold_depth(context: str, value: str) -> float:
    """Where the (first) gold value sits in the context, as a fraction of its characters (for per-depth reports)."""
    return round(context.index(value) / max(1, len(context)), 3)


def read_essay(path: str | Path) -> list[str]:
    """RULER's essay haystack: PaulGrahamEssays.json ({"text": ...}) or a plain text file, white space collapsed and
    split into words (niah.py: `re.sub(r"\\s+", " ", essay).split(" ")`)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"essay_file {path}: not found (RULER MV's haystack corpus)")
    text = path.read_text()
    if path.suffix == ".json":
        try:
            text = json.loads(text)["text"]
        except (json.JSONDecodeError, KeyError, TypeError):
            raise ValueError(f"{path}: RULER's essay file is a JSON object with a 'text' string") from None
    return re.sub(r"\s+", " ", text).split(" ")


# ---- passkey NIAH (the paper's "NIAH" column: saturated, shown for contrast) ------------------------------------
NIAH_DEPTHS = tuple(d / 10 for d in range(11))


def passkey_fields(n: int, rng: random.Random, i: int) -> tuple[dict[str, str], str]:
    value = str(rng.randint(10_000, 99_999))
    units = [FILLER] * n
    units.insert(round(NIAH_DEPTHS[i % len(NIAH_DEPTHS)] * n), P.PASSKEY_NEEDLE.format(value=value))
    return {"context": " ".join(units)}, value


def passkey(tokenizer, length: int, num_samples: int, seed: int = 42, max_new_tokens: int = 20,
            count: int | None = None) -> tuple[TaskSpec, list[EvalItem]]:
    spec = TaskSpec("niah_passkey", NIAH, P.PASSKEY_USER, P.PASSKEY_PREFIX, max_new_tokens, "ruler_recall",
                    _ruler_score, stop_newline=True)
    n = _size(tokenizer, spec, length, lambda n, r, i: passkey_fields(n, r, i)[0], count)
    items = []
    for i in range(num_samples):
        _, fields, value = fit_item(tokenizer, spec, length, n, lambda m: passkey_fields(m, _item_rng(seed, i), i))
        items.append(EvalItem(fields, [value], {"depth": NIAH_DEPTHS[i % len(NIAH_DEPTHS)]}))
    return spec, items


# ---- registration (params -> builders) --------------------------------------------------------------------------
@register("json_kv", RECALL)
def _build_json_kv(name: str, tokenizer, length: int, cfg: EvalConfig) -> tuple[TaskSpec, list[EvalItem]]:
    # HELMET's own file takes precedence; without one, HELMET's table count (sizing: table) or a fit
    count = None if json_kv_file(cfg.data_root(), length) else table_count(cfg, name, length)
    return json_kv(tokenizer, length, cfg.num_samples, cfg.seed, cfg.shots, cfg.max_new_tokens.get(name) or 100,
                   count, cfg.data_root())


@register(RULER_TASKS, RECALL)
def _build_ruler(name: str, tokenizer, length: int, cfg: EvalConfig) -> tuple[TaskSpec, list[EvalItem]]:
    # RULER is sized by binary search unless HELMET's table gives a count
    essay = None
    if cfg.essay_file and name == "ruler_mv":
        p = Path(cfg.essay_file)
        essay = read_essay(p if p.is_absolute() else cfg.data_root() / p)
    return ruler(name, tokenizer, length, cfg.num_samples, cfg.seed, cfg.max_new_tokens.get(name),
                 table_count(cfg, name, length, required=False), essay)


@register("niah_passkey", NIAH)
def _build_passkey(name: str, tokenizer, length: int, cfg: EvalConfig) -> tuple[TaskSpec, list[EvalItem]]:
    return passkey(tokenizer, length, cfg.num_samples, cfg.seed, cfg.max_new_tokens.get(name) or 20,
                   table_count(cfg, name, length, required=False))
