"""Results in HELMET's own output format, both ways.

Write: every (dataset, length) result also under the file name HELMET's eval.py gives it,
    {dataset}_{tag}_{test_name}_in{L}_size{n}_shots{s}_samp{do_sample}max{gen}min{gen_min}t{temp}p{top_p}_chat{chat}_{seed}.json
with HELMET's dataset name (e.g. `kilt_nq`, `icl_banking77_5900shot_balance`, `narrativeqa_130772`) and test file
stem (`nq-dev-multikilt_1000_k1000_dep6`), HELMET's top-level keys (`args`, `data` with flat per-item metrics and
`input_len` / `output_len` / `input_text`, `metrics` as lists, `averaged_metrics` x100 except lengths,
`throughput` in samples/s, `memory_usage` in bytes on CUDA) and the `.score` file beside it, so that HELMET's
scripts/collect_results.py reads a run of this project as one of its own. A judged result is also written as
HELMET's `-gpt4eval_o.json` (the file collect_results prefers), its judge metrics under HELMET's names.

Read: `read_helmet_dir` turns a folder of HELMET's outputs (made by HELMET's code) into this project's results,
keyed (dataset, length) with this project's dataset names, so the two compare in one table (`helmet_tidy`).
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pandas as pd

from prolong.io import atomic_write_json
from prolong.tidy import TIDY_COLUMNS, fmt

# HELMET's per-length file counts (scripts/generate_configs.py) for 4K..128K
_LENGTHS = (4096, 8192, 16384, 32768, 65536, 131072)
JSON_KV_KS = dict(zip(_LENGTHS, (50, 105, 220, 440, 900, 1800)))
RAG_KS = dict(zip(_LENGTHS, (20, 50, 105, 220, 440, 1000)))
RERANK_KS = dict(zip(_LENGTHS, (14, 50, 130, 285, 600, 1000)))
ALCE_DOCS = dict(zip(_LENGTHS, (8, 30, 75, 165, 345, 700)))
ICL_SHOTS = {"icl_trec_coarse": (200, 400, 800, 1600, 3300, 6600), "icl_trec_fine": (200, 400, 800, 1600, 3200, 6400),
             "icl_banking77": (180, 360, 720, 1450, 2900, 5900), "icl_clinc150": (220, 440, 880, 1750, 3525, 7050),
             "icl_nlu": (250, 510, 1020, 2040, 4080, 8296)}
ICL_SHOTS = {k: dict(zip(_LENGTHS, v)) for k, v in ICL_SHOTS.items()}

HELMET_NAMES = {"json_kv": "json_kv", "ruler_mk_needle": "ruler_niah_mk_2", "ruler_mk_uuid": "ruler_niah_mk_3",
                "ruler_mv": "ruler_niah_mv", "nq": "kilt_nq", "triviaqa": "kilt_triviaqa", "hotpotqa": "kilt_hotpotqa",
                "popqa": "kilt_popqa", "msmarco_rerank": "msmarco_rerank_psg", "icl_trec_coarse": "icl_trec_coarse",
                "icl_trec_fine": "icl_trec_fine", "icl_banking77": "icl_banking77", "icl_clinc150": "icl_clinic150",
                "icl_nlu": "icl_nlu", "narrativeqa": "narrativeqa", "infbench_qa": "infbench_qa_eng",
                "infbench_mc": "infbench_choice_eng", "infbench_sum": "infbench_sum_eng",
                "multi_lexsum": "multi_lexsum", "alce_asqa": "alce_asqa", "alce_qampari": "alce_qampari"}
"this project's dataset name -> HELMET's (the stem of its config's `datasets` entry; ICL keeps HELMET's 'clinic')"
_RAG_DEPTH = {"nq": 6, "triviaqa": 6, "hotpotqa": 3, "popqa": 6}
_JUDGE_NAMES = {"narrativeqa": ("gpt-4-score", 3.0), "multi_lexsum": ("gpt-4-f1", 1.0),
                "infbench_sum": ("gpt-4-f1", 1.0)}
"judged dataset -> (HELMET's averaged judge metric, the scale of its per-item value: QA 0-3, Summ 0-1)"


def _per_length(table: dict[int, int], length: int, used: int | None) -> int:
    """HELMET's count at one of its lengths; elsewhere the count this run used (no HELMET file exists there)."""
    return table.get(length, used if used is not None else 0)


def helmet_names(dataset: str, length: int, gen: int, used: int | None = None) -> tuple[str, str]:
    """(HELMET's dataset name, its test file stem) of one of this project's datasets at one length. `used`: the
    count of KV pairs / passages / shots / documents the run used, for lengths HELMET has no file for."""
    h = HELMET_NAMES[dataset]
    if dataset == "json_kv":
        return h, f"test_k{_per_length(JSON_KV_KS, length, used)}_dep6"
    if dataset.startswith("ruler_"):
        return h, f"validation_{length}"
    if dataset in _RAG_DEPTH:
        k, dep = _per_length(RAG_KS, length, used), _RAG_DEPTH[dataset]
        if dataset == "popqa":
            return "kilt_popqa_3", f"popqa_test_1000_k{k}_dep{dep}"
        return h, f"{dataset}-dev-multikilt_1000_k{k}_dep{dep}"
    if dataset == "msmarco_rerank":
        return h, f"test_reranking_data_k{_per_length(RERANK_KS, length, used)}_dep3"
    if dataset in ICL_SHOTS:
        return f"{h}_{_per_length(ICL_SHOTS[dataset], length, used)}shot_balance", ""
    if dataset == "multi_lexsum":
        return f"{h}_{length - 300 - 400}", ""
    if dataset in ("narrativeqa", "infbench_qa", "infbench_mc", "infbench_sum"):
        return f"{h}_{length - 200 - gen}", ""
    if dataset in ("alce_asqa", "alce_qampari"):
        stem = dataset.removeprefix("alce_")
        return f"{h}_{_per_length(ALCE_DOCS, length, used)}", f"{stem}_eval_gtr_top2000"
    raise KeyError(f"{dataset}: no HELMET counterpart")


def helmet_file_name(dataset: str, tag: str, test_name: str, length: int, size: int | None, shots: int, gen: int,
                     chat: bool, seed: int) -> str:
    """eval.py's `output_path` (greedy: do_sample False, temperature 0.0, top_p 1.0, generation_min_length 0)."""
    return (f"{dataset}_{tag}_{test_name}_in{length}_size{size}_shots{shots}_sampFalsemax{gen}min0t0.0p1.0"
            f"_chat{chat}_{seed}.json")


def _flat_item(d: dict[str, Any]) -> dict[str, Any]:
    """A result item as HELMET writes it: the test item's fields and the output's, metrics at the top level."""
    out = {k: v for k, v in d.items() if k not in ("metrics", "context")}
    out.update(d["metrics"])
    return out


def _used_count(result: dict[str, Any]) -> int | None:
    for key in ("num_kvs", "num_passages", "shots", "num_docs"):
        vals = [d[key] for d in result["data"] if key in d]
        if vals:
            return max(vals)
    return None


def to_helmet(result: dict[str, Any], model: str, tag: str = "eval") -> tuple[str, dict[str, Any], dict | None]:
    """(file name, HELMET's output JSON, the judge file's JSON or None) of one of this project's results."""
    a = result["args"]
    dataset, length, gen = a["dataset"], a["input_max_length"], a["generation_max_length"]
    h_name, test_name = helmet_names(dataset, length, gen, _used_count(result))
    size = a.get("max_test_samples", a["num_items"])
    shots = 0 if dataset in ICL_SHOTS else a["shots"]  # HELMET's ICL configs say shots: 0 (the shots are in the name)
    name = helmet_file_name(h_name, tag, test_name, length, size, shots, gen, a["use_chat_template"], a["seed"])
    data = [_flat_item(d) for d in result["data"]]
    metrics: dict[str, list] = {}
    for d in result["data"]:
        for k, v in d["metrics"].items():
            metrics.setdefault(k, []).append(v)
    for k in ("input_len", "output_len"):
        metrics[k] = [d.get(k, 0) for d in result["data"]]
    averaged = {k: (100 if "_len" not in k else 1) * sum(v) / len(v) for k, v in metrics.items() if v}
    throughput = result.get("throughput", {})
    out = {
        "args": {"model_name_or_path": model, "datasets": h_name, "test_files": test_name, "demo_files": "",
                 "input_max_length": length, "generation_max_length": gen, "generation_min_length": 0,
                 "max_test_samples": size, "shots": shots, "do_sample": False, "temperature": 0.0, "top_p": 1.0,
                 "use_chat_template": a["use_chat_template"], "seed": a["seed"], "tag": tag,
                 "stop_newline": a["stop_newline"], "prolong": a},
        "data": data,
        "metrics": metrics,
        "averaged_metrics": averaged,
        # eval.py: samples per second of generation (prefill + decoding here)
        "throughput": len(data) / gen_s if (gen_s := throughput.get("prefill_s", 0) + throughput.get("decode_s", 0))
        else 0.0,
    }
    memory = result.get("memory", {})
    if memory.get("measure") == "cuda_max_memory_allocated":  # HELMET writes it only on CUDA, in bytes
        out["memory_usage"] = int(memory["peak_memory_mb"] * 2**20)
    judged = None
    if dataset in _JUDGE_NAMES and "judge_score" in metrics:
        key, scale = _JUDGE_NAMES[dataset]
        vals = [d["metrics"]["judge_score"] for d in result["data"] if "judge_score" in d["metrics"]]
        # collect_results scales gpt-4-score by 100/3 and gpt-4-f1 by 100: the per-item values on HELMET's scale
        judged = {**out, "averaged_metrics": {**averaged, key: scale * sum(vals) / len(vals)}}
    return name, out, judged


def write_helmet(result: dict[str, Any], folder: str | Path, model: str, tag: str = "eval") -> Path:
    """Write one result as HELMET's file and its `.score` (Cite: eval_alce's scores; judged: also -gpt4eval_o)."""
    folder = Path(folder)
    name, out, judged = to_helmet(result, model, tag)
    atomic_write_json(folder / name, out)
    score = out["averaged_metrics"]
    if result["args"]["dataset"].startswith("alce_"):
        score = {k: v for k, v in result["averaged_metrics"].items() if isinstance(v, (int, float))}
    atomic_write_json(folder / (name + ".score"), score)
    if judged is not None:
        atomic_write_json(folder / name.replace(".json", "-gpt4eval_o.json"), judged)
    return folder / name


# ---- reading HELMET's outputs ------------------------------------------------------------------------------------
MAIN_METRICS = {"json_kv": "substring_exact_match", "nq": "substring_exact_match", "triviaqa": "substring_exact_match",
                "hotpotqa": "substring_exact_match", "popqa": "substring_exact_match", "msmarco_rerank": "NDCG@10",
                "narrativeqa": "gpt-4-score", "multi_lexsum": "gpt-4-f1", "infbench_sum": "gpt-4-f1",
                "infbench_qa": "rougeL_f1", "infbench_mc": "exact_match", "alce_asqa": "str_em",
                "alce_qampari": "qampari_rec_top5"}
"collect_results.py's `dataset_to_metrics` (first metric), under this project's names; ICL exact_match, RULER recall"


def project_name(helmet_dataset: str) -> str | None:
    """This project's dataset name for a HELMET `datasets` entry (e.g. 'kilt_popqa_3' -> 'popqa'), by the longest
    HELMET name it starts with; None for HELMET datasets this project does not evaluate."""
    best = None
    for ours, theirs in HELMET_NAMES.items():
        if helmet_dataset == theirs or helmet_dataset.startswith(theirs + "_"):
            if best is None or len(theirs) > len(HELMET_NAMES[best]):
                best = ours
    return best


def _main_metric(dataset: str) -> str:
    if dataset.startswith("icl_"):
        return "exact_match"
    if dataset.startswith("ruler_"):
        return "ruler_recall"
    return MAIN_METRICS[dataset]


_NAME = re.compile(r"^(?P<dataset>.+?)_.*_in(?P<length>\d+)_size.*_chat(True|False)_\d+(-gpt4eval_o)?\.json$")


def read_helmet_dir(folder: str | Path) -> dict[tuple[str, int], dict[str, Any]]:
    """HELMET's output folder -> {(dataset, length): {"args", "averaged_metrics" (with "main_metric")}}. Each
    result is read from the file collect_results.py would read (the -gpt4eval_o.json if present, else the .json;
    ALCE: the .json.score), with its judge metric rescaled as collect_results does (gpt-4-score x100/3, gpt-4-f1
    x100). A file that is not valid JSON is an error naming it."""
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"{folder}: not a HELMET output folder")
    out: dict[tuple[str, int], dict[str, Any]] = {}
    files = sorted(folder.glob("*.json"))
    chosen: dict[str, Path] = {}
    for p in files:
        base = p.name.replace("-gpt4eval_o.json", ".json")
        if p.name.endswith("-gpt4eval_o.json") or base not in chosen:
            chosen[base] = p
    for p in sorted(folder.glob("*.json.score")):
        if p.name.startswith("alce_"):
            chosen[p.name.removesuffix(".score")] = p
    for base, p in sorted(chosen.items()):
        try:
            obj = json.loads(p.read_text())
        except json.JSONDecodeError as err:
            raise ValueError(f"{p}: not valid JSON ({err})") from None
        m = _NAME.match(base)
        if p.name.endswith(".score"):  # ALCE: eval_alce's scores; the dataset and length from the file name
            if m is None:
                raise ValueError(f"{p}: not a HELMET output file name")
            h_dataset, length, averaged, args = _alce_dataset(base), int(m["length"]), dict(obj), {}
        else:
            if not isinstance(obj, dict) or "averaged_metrics" not in obj:
                raise ValueError(f"{p}: a HELMET output needs 'averaged_metrics'")
            args = obj.get("args", {})
            h_dataset = str(args.get("datasets", m["dataset"] if m else ""))
            length = int(args.get("input_max_length", m["length"] if m else 0))
            averaged = dict(obj["averaged_metrics"])
        ours = project_name(h_dataset)
        if ours is None:
            continue
        for key, scale in (("gpt-4-score", 100 / 3), ("gpt-4-f1", 100)):
            if key in averaged:
                averaged[key] = averaged[key] * scale
        averaged["main_metric"] = _main_metric(ours)
        out[(ours, length)] = {"args": args, "averaged_metrics": averaged, "file": str(p)}
    return out


def _alce_dataset(base: str) -> str:
    for name in ("alce_asqa", "alce_qampari"):
        if base.startswith(name + "_"):
            return name + "_" + base[len(name) + 1:].split("_")[0]
    return base


def helmet_tidy(folder: str | Path, label: str | None = None, experiment: str = "HELMET") -> pd.DataFrame:
    """A HELMET output folder as tidy rows (`prolong.tidy`): per-dataset metrics and, with `categories`, the
    category scores of HELMET's preset; source = the folder's name."""
    from prolong.eval.aggregate import category_scores
    from prolong.eval.categories import HELMET_CATEGORIES

    folder = Path(folder)
    results = read_helmet_dir(folder)
    label = label or folder.name
    base = {"source": folder.name, "experiment": experiment, "phase": "final", "run": label, "label": label,
            "order": 0, "status": "done"}
    rows = []
    for (d, n), res in sorted(results.items()):
        for k, v in res["averaged_metrics"].items():
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                rows.append({**base, "dataset": d, "length": n, "metric": k, "value": float(v),
                             "display": fmt(float(v)), "runs": res["file"]})
    lengths = sorted({n for _, n in results})
    scores, _ = category_scores(results, HELMET_CATEGORIES, lengths) if lengths else ({}, {})
    rows += [{**base, "dataset": "", "length": 0, "metric": k, "value": float(v), "display": fmt(float(v)),
              "runs": str(folder)} for k, v in scores.items()]
    return pd.DataFrame(rows, columns=TIDY_COLUMNS)
