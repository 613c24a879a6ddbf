"""Short-context tasks: HellaSwag, MMLU, ARC-c, WinoGrande by log-likelihood (lm-eval-harness style acc and
acc_norm) and GSM8K by greedy generation with "#### N" / last-number answer extraction.

A multiple-choice item becomes (context, [continuations], gold). acc = argmax of the summed log-probability of each
continuation; acc_norm = argmax of that sum divided by the continuation's length in bytes (lm-eval's acc_norm).
WinoGrande uses lm-eval's partial scoring: the option fills the blank in the context, the shared remainder is scored.
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING, Any

import torch
import torch.nn.functional as F

from prolong.eval.categories import SHORT, SHORT_TASKS
from prolong.eval.generate import greedy_generate
from prolong.eval.tasks.registry import WholeModelResult, register_whole_model
from prolong.io import iter_jsonl

if TYPE_CHECKING:
    from prolong.eval.config import EvalConfig

MAIN_METRIC = {"hellaswag": "acc_norm", "mmlu": "acc", "arc_challenge": "acc_norm", "winogrande": "acc",
               "gsm8k": "exact_match"}


def _hellaswag_pre(text: str) -> str:
    text = text.strip().replace(" [title]", ". ")
    text = re.sub(r"\[.*?\]", "", text)
    return text.replace("  ", " ")


def to_mc(task: str, r: dict[str, Any]) -> tuple[list[str], list[str], int]:
    """(contexts per choice, continuations per choice, gold index) in lm-eval's formats."""
    if "choices" in r and "context" in r and isinstance(r["choices"], list):  # generic
        return [r["context"]] * len(r["choices"]), [" " + c for c in r["choices"]], int(r["label"])
    if task == "hellaswag":
        ctx = r["ctx"] if "ctx" in r else r["ctx_a"] + " " + r["ctx_b"].capitalize()
        ctx = _hellaswag_pre((r.get("activity_label", "") + ": " if r.get("activity_label") else "") + ctx)
        return [ctx] * len(r["endings"]), [" " + _hellaswag_pre(e) for e in r["endings"]], int(r["label"])
    if task == "mmlu":
        letters = "ABCD"[: len(r["choices"])]
        q = r["question"].strip() + "\n" + "".join(f"{l}. {c}\n" for l, c in zip(letters, r["choices"])) + "Answer:"
        return [q] * len(letters), [" " + l for l in letters], int(r["answer"])
    if task == "arc_challenge":
        q = f"Question: {r['question']}\nAnswer:"
        texts, labels = r["choices"]["text"], r["choices"]["label"]
        return [q] * len(texts), [" " + t for t in texts], labels.index(r["answerKey"])
    if task == "winogrande":
        idx = r["sentence"].index("_")
        cont = " " + r["sentence"][idx + 1:].strip()
        ctxs = [r["sentence"][:idx] + r["option1"], r["sentence"][:idx] + r["option2"]]
        return ctxs, [cont, cont], int(r["answer"]) - 1
    raise ValueError(f"{task}: unknown multiple-choice layout (keys {sorted(r)})")


def _demo(task: str, r: dict[str, Any]) -> str:
    ctxs, conts, gold = to_mc(task, r)
    return ctxs[gold] + conts[gold]


@torch.no_grad()
def loglikelihood(model: Any, tokenizer: Any, context: str, continuation: str) -> float:
    """Sum of log p(continuation tokens | context), tokenising context and continuation separately (lm-eval)."""
    device = next(model.parameters()).device
    ctx = tokenizer(context, add_special_tokens=True)["input_ids"]
    cont = tokenizer(continuation, add_special_tokens=False)["input_ids"]
    x = torch.tensor(ctx + cont, device=device)[None]
    logits = model(input_ids=x[:, :-1], logits_to_keep=len(cont)).logits[0].float()  # (len(cont), V)
    return -F.cross_entropy(logits, x[0, -len(cont):], reduction="sum").item()


def eval_mc(model: Any, tokenizer: Any, task: str, rows: list[dict], demos: list[dict]) -> dict[str, Any]:
    prefix = "".join(_demo(task, d) + "\n\n" for d in demos)
    if task == "mmlu" and rows and rows[0].get("subject"):
        pass  # the subject header is per item below
    data = []
    for r in rows:
        ctxs, conts, gold = to_mc(task, r)
        head = (f"The following are multiple choice questions (with answers) about "
                f"{r['subject'].replace('_', ' ')}.\n\n" if task == "mmlu" and r.get("subject") else "")
        lls = [loglikelihood(model, tokenizer, head + prefix + c, k) for c, k in zip(ctxs, conts)]
        norm = [ll / max(1, len(k.encode())) for ll, k in zip(lls, conts)]
        acc = float(max(range(len(lls)), key=lls.__getitem__) == gold)
        acc_norm = float(max(range(len(norm)), key=norm.__getitem__) == gold)
        data.append({"loglikelihoods": lls, "gold": gold, "metrics": {"acc": acc, "acc_norm": acc_norm}})
    return _result(task, data)


def extract_gsm8k(text: str) -> str:
    """'#### N' if present, else the last number in the text; commas, '$' and a trailing '.' removed."""
    m = re.search(r"#### (\-?[0-9\.\,]+)", text)
    if m:
        ans = m.group(1)
    else:
        nums = re.findall(r"-?[$0-9.,]{2,}|-?[0-9]+", text)
        if not nums:
            return "[invalid]"
        ans = nums[-1]
    return ans.replace(",", "").replace("$", "").rstrip(".").strip()


def eval_gsm8k(model: Any, tokenizer: Any, rows: list[dict], demos: list[dict], max_new_tokens: int = 256,
               prefill_chunk: int = 2048) -> dict[str, Any]:
    prefix = "".join(f"Question: {d['question']}\nAnswer: {d['answer']}\n\n" for d in demos)
    stop = [tokenizer.eos_token_id] if tokenizer.eos_token_id is not None else []
    data = []
    for r in rows:
        prompt = prefix + f"Question: {r['question']}\nAnswer:"
        ids = tokenizer(prompt, add_special_tokens=True)["input_ids"]
        out, _ = greedy_generate(model, [ids], max_new_tokens, stop, tokenizer.pad_token_id or 0, prefill_chunk)
        text = tokenizer.decode(out[0], skip_special_tokens=True)
        text = re.split(r"\n\n|Question:", text)[0]  # lm-eval's stop sequences
        pred, gold = extract_gsm8k(text), extract_gsm8k(r["answer"])
        data.append({"output": text, "parsed_output": pred, "gold": gold,
                     "metrics": {"exact_match": float(pred == gold)}})
    return _result("gsm8k", data)


def _result(task: str, data: list[dict]) -> dict[str, Any]:
    keys = data[0]["metrics"].keys() if data else []
    avg = {k: 100 * sum(d["metrics"][k] for d in data) / len(data) for k in keys}
    return {"data": data, "averaged_metrics": avg, "main_metric": MAIN_METRIC[task]}


@register_whole_model(SHORT_TASKS, SHORT)
def evaluate_short(name: str, model: Any, tokenizer: Any, cfg: EvalConfig) -> WholeModelResult:
    """One short task from `<data_root>/short/<name>.jsonl` (demos: the first k rows of `<name>_train.jsonl`)."""
    short_file = cfg.data_root() / "short" / f"{name}.jsonl"
    rows = list(iter_jsonl(short_file))
    if not rows:
        raise ValueError(f"{short_file}: no items")
    if cfg.short.max_samples:
        rows = rows[: cfg.short.max_samples]
    k = cfg.short.num_fewshot.get(name, 0)
    train = cfg.data_root() / "short" / f"{name}_train.jsonl"
    demos = list(iter_jsonl(train))[:k] if k and train.is_file() else []
    if name == "gsm8k":
        res = eval_gsm8k(model, tokenizer, rows, demos, cfg.short.gsm8k_max_new_tokens, cfg.prefill_chunk)
    else:
        res = eval_mc(model, tokenizer, name, rows, demos)
    res["args"] = {"dataset": name, "num_fewshot": len(demos), "num_items": len(rows)}
    res["averaged_metrics"]["main_metric"] = res.pop("main_metric")
    res.setdefault("throughput", {})
    res.setdefault("memory", {})
    return WholeModelResult(res, 0, res["averaged_metrics"][res["averaged_metrics"]["main_metric"]])
