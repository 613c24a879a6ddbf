"""Run the evaluation of one model: build each (dataset, length), decode, score, judge, write HELMET-style JSONs
into a run and the category scores with the paper's column names.

Aggregation (HELMET's collect_results, `prolong.eval.aggregate`): a category at one length = unweighted mean of its
datasets' main metrics (x100) that are there, Avg = mean of the categories that have a value, and what is missing is
named in the run's categories.json; the categories are the config's preset ('helmet' by default) or its own map.
The run-level value of a column is the mean over the evaluated lengths (the paper: 32K and 64K), and each length is
also written as "<column>@<length>". Every result is also written in HELMET's own format (`helmet_format`).

Stopping: HELMET's released code never stops at a newline (its configs set `stop_new_line`, an argument that does
not exist; the argument is `--stop_newline`), so by default nothing stops but EOS; `stop_rule: newline` stops
where HELMET's configs ask for it. Each result's args say which (`stop_rule`, `stop_newline`).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import torch
from tqdm.auto import tqdm

from prolong.determinism import set_cpu_threads
from prolong.eval import prompts as P
from prolong.eval.aggregate import category_scores
from prolong.eval.categories import ICL, SHORT_TASKS
from prolong.eval.config import EvalConfig
from prolong.eval.generate import GenerationStats, greedy_generate
from prolong.eval.helmet_format import HELMET_NAMES, write_helmet
from prolong.eval.judge import Judge, judge_item
from prolong.eval.tasks.base import EvalItem, TaskSpec
from prolong.eval.tasks.registry import get_task
from prolong.io import atomic_write_json
from prolong.progress import quiet


def stop_ids(tokenizer: Any, newline: bool, model: Any = None) -> list[int]:
    """HELMET's HFModel stop tokens: the model's generation_config EOS id(s) (else the tokenizer's EOS) and, when
    `newline`, the ids of the tokens "\\n", "Ċ", "ĊĊ", "<0x0A>" (a single or double newline, nothing else)."""
    gen_eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None)
    if gen_eos is None:
        gen_eos = tokenizer.eos_token_id
    ids = [i for i in (gen_eos if isinstance(gen_eos, (list, tuple)) else [gen_eos]) if i is not None]
    if newline:
        vocab = tokenizer.get_vocab()
        unk = getattr(tokenizer, "unk_token_id", None)
        for tok in ("\n", "Ċ", "ĊĊ", "<0x0A>"):
            i = vocab.get(tok)
            if i is not None and i != unk:
                ids.append(i)
    return sorted(set(int(i) for i in ids))


def evaluate_task(model: Any, tokenizer: Any, spec: TaskSpec, items: list[EvalItem], length: int, cfg: EvalConfig,
                  judge: Judge | None = None) -> dict[str, Any]:
    """Decode and score every item; returns HELMET's output JSON for one (dataset, length)."""
    budget = length - spec.max_new_tokens
    encoded = [P.build_input_ids(tokenizer, spec.user_template, spec.prefix_template, it.fields, spec.chat, budget,
                                 spec.sep) for it in items]
    newline = spec.stop_newline and cfg.stop_rule == "newline"
    stops = stop_ids(tokenizer, newline, model)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)
    order = sorted(range(len(items)), key=lambda i: len(encoded[i][0]))  # similar lengths share a batch
    outputs: dict[int, str] = {}
    out_lens: dict[int, int] = {}
    stats = GenerationStats()
    bar = tqdm(total=len(items), desc=f"{spec.name}@{length}", disable=quiet(), leave=False)
    for b in range(0, len(order), cfg.batch_size):
        idx = order[b: b + cfg.batch_size]
        gen, st = greedy_generate(model, [encoded[i][0] for i in idx], spec.max_new_tokens, stops, pad,
                                  cfg.prefill_chunk)
        stats.add(st)
        for i, g in zip(idx, gen):
            out_lens[i] = len(g)
            text = tokenizer.decode(g, skip_special_tokens=True)
            outputs[i] = P.completion_output(text, spec.prefix_template, encoded[i][1], spec.chat)
        bar.update(len(idx))
    bar.close()

    data = []
    use_judge = judge is not None and spec.judged
    for i, item in enumerate(items):
        mets, parsed = spec.score(outputs[i], item)
        mets = {k: float(v) for k, v in mets.items()}
        if use_judge:
            mets.update(judge_item(judge, spec.category, spec.name, item, outputs[i]))
        data.append({"output": outputs[i], "parsed_output": parsed, "input_len": len(encoded[i][0]),
                     "output_len": out_lens[i],
                     "input_text": tokenizer.decode(encoded[i][0], skip_special_tokens=False),  # as HELMET saves it
                     "answer": item.answers if not isinstance(item.answers, dict) else None,
                     "question": item.fields.get("question", item.fields.get("query", "")),
                     **{k: v for k, v in item.extra.items() if k not in ("keypoints", "summary_long")},
                     "metrics": mets})
    # every metric is averaged over the items that have it (HELMET's judge scripts skip items whose judge call or
    # JSON parse failed); x100 like HELMET's averaged_metrics
    keys = list(dict.fromkeys(k for d in data for k in d["metrics"]))
    averaged = {}
    for k in keys:
        vals = [d["metrics"][k] for d in data if k in d["metrics"]]
        averaged[k] = 100 * sum(vals) / len(vals)
    main = "judge_score" if use_judge else spec.main_metric
    averaged["main_metric"] = main  # name of the column the category averages (a string: skipped by the tidy table)
    return {
        "args": {"dataset": spec.name, "category": spec.category, "input_max_length": length,
                 "generation_max_length": spec.max_new_tokens, "use_chat_template": spec.chat,
                 "stop_newline": newline, "stop_rule": cfg.stop_rule, "shots": cfg.shots,
                 "max_test_samples": cfg.icl_num_samples if spec.category == ICL else cfg.num_samples, "seed": cfg.seed, "sizing": cfg.sizing,
                 "num_items": len(items), "prefill_chunk": cfg.prefill_chunk, "batch_size": cfg.batch_size,
                 "judge": cfg.judge.model if use_judge else None},
        "data": data,
        "averaged_metrics": averaged,
        "throughput": stats.throughput(),
        "memory": stats.memory(),
    }


def evaluate_model(model: Any, tokenizer: Any, cfg: EvalConfig, run: Any | None = None) -> dict[str, float]:
    """Every configured task at every length (plus PPL and short tasks); writes into `run` when given."""
    set_cpu_threads(cfg.cpu_threads)
    model.eval()
    judge = Judge(cfg.judge) if cfg.judge.enabled else None
    results: dict[tuple[str, int], dict[str, Any]] = {}
    scores: dict[str, float] = {}
    long_tasks = [get_task(t) for t in cfg.tasks if get_task(t).build is not None]
    model_ref = str(run.params().get("model", "")) if run is not None else ""
    for length in cfg.lengths:
        for task in long_tasks:
            t0 = time.perf_counter()
            spec, items = task.items(tokenizer, length, cfg)
            res = evaluate_task(model, tokenizer, spec, items, length, cfg, judge)
            res["throughput"]["wall_s"] = round(time.perf_counter() - t0, 3)
            results[(task.name, length)] = res
            if run is not None:
                run.write_eval(task.name, length, res)
                if cfg.helmet_output and task.name in HELMET_NAMES:
                    write_helmet(res, run.path / "helmet", model_ref, cfg.helmet_tag)
    long_scores, report = category_scores(results, cfg.category_map(), cfg.lengths)
    scores.update(long_scores)
    if run is not None and results:
        atomic_write_json(run.path / "categories.json", {"preset": cfg.category_source(), **report})

    # whole-model tasks: PPL first, then the short tasks in the paper's column order
    short_done = []
    for name in ("ppl", *SHORT_TASKS):
        if name not in cfg.tasks:
            continue
        task = get_task(name)
        out = task.run(model, tokenizer, cfg)
        scores[task.column] = out.score
        if name in SHORT_TASKS:
            short_done.append(task.column)
        if run is not None:
            run.write_eval(name, out.length, out.result)
    if short_done and len(short_done) == len([t for t in SHORT_TASKS if t in cfg.tasks]):
        scores["Short Avg"] = sum(scores[c] for c in short_done) / len(short_done)
    if run is not None and scores:
        run.write_scores(scores)
    return scores


def load_model(model_dir: str | Path, cfg: EvalConfig) -> tuple[Any, Any]:
    """A saved HF causal LM directory and its tokenizer."""
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from prolong.integrity import check_safetensors

    device = cfg.device if cfg.device != "auto" else ("cuda" if torch.cuda.is_available() else "cpu")
    check_safetensors(model_dir)  # a truncated copy is named here, not as a SafetensorError naming no file
    try:  # a local folder only (prolong.offline): a missing one fails at once instead of trying the Hub
        tok = AutoTokenizer.from_pretrained(model_dir, local_files_only=True)
        model = AutoModelForCausalLM.from_pretrained(model_dir, dtype=getattr(torch, cfg.dtype),
                                                     local_files_only=True).to(device).eval()
    except OSError as err:
        raise FileNotFoundError(f"{model_dir}: not a loadable local model folder ({err})") from err
    return model, tok
