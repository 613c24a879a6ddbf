"""Model judge for QA and Summarization (HELMET's GPT-4o evaluation), over any OpenAI-compatible chat endpoint.

Off by default. Follows HELMET's scripts (princeton-nlp/HELMET scripts/eval_gpt4_longqa.py, eval_gpt4_summ.py):
- QA (NarrativeQA): one call with `QA_JUDGE` on the output parsed after "Answer:" (newlines turned into spaces
  first), the gold answers written as a Python list; per item fluency (0/1) x correctness (0-3). HELMET averages
  the product over the items that got a score and `collect_results.py` scales it by 100/3: here `judge_score` is
  fluency x correctness / 3 per item and the runner's x100 average gives the same number.
- Summ: three calls (fluency, recall over the reference key points, precision of the output's sentences against
  an expert summary; the judge counts the sentences itself). recall = found / number of key points, precision =
  supported / sentence_count, `judge_f1` = fluency x F1 (HELMET's "gpt-4-f1"). The prompt set and the expert
  summary depend on the dataset, as eval_gpt4_summ.py picks them: Multi-LexSum the legal-case prompts and the *long*
  summary, InfiniteBench Sum the novel ("book") prompts and the reference summary (`summ_prompts`).
- An item whose call or JSON parse fails gets no judge metrics and is left out of the average (as HELMET).
Judge settings as HELMET: gpt-4o-2024-05-13, temperature 0.1, top_p 0.9, max_tokens 2048 (QA) / 4096 (Summ).
The prompts are HELMET's, verbatim, in `prolong.eval.judge_prompts`. The API key is read from the environment
variable named in the config.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from dataclasses import dataclass
from typing import Any

from prolong.config import Config
from prolong.eval.categories import QA
from prolong.eval.judge_prompts import QA_JUDGE, SUMM_FLUENCY, SUMM_PRECISION, SUMM_RECALL
from prolong.eval.judge_prompts_book import BOOK_FLUENCY, BOOK_PRECISION, BOOK_RECALL
from prolong.eval.metrics import parse_output


@dataclass
class JudgeConfig(Config):
    enabled: bool = False
    "use a model judge for QA/Summ (HELMET: GPT-4o); without it QA/Summ report ROUGE-L F1 under its own name"
    base_url: str = "https://api.openai.com/v1"
    "OpenAI-compatible endpoint; requests go to <base_url>/chat/completions"
    model: str = "gpt-4o-2024-05-13"
    "judge model name sent in the request"
    api_key_env: str = "OPENAI_API_KEY"
    "environment variable holding the API key (may be unset for a local endpoint)"
    timeout_s: float = 120.0
    "per-request timeout in seconds"
    temperature: float = 0.1
    "HELMET: OpenAIModel(..., temperature=0.1) with its default top_p 0.9"
    top_p: float = 0.9
    "nucleus sampling of the judge (HELMET's OpenAIModel default)"
    max_tokens_qa: int = 2048
    "judge response length for QA (HELMET's OpenAIModel default generation_max_length)"
    max_tokens_summ: int = 4096
    "judge response length for Summ (HELMET: generation_max_length=4096)"
    system_message: str = ""
    "system turn sent to the judge ('' = none, as HELMET's current OpenAIModel)"


DEFAULT_KEY_ENV, DEFAULT_URL = JudgeConfig.api_key_env, JudgeConfig.base_url


def judge_key(cfg: JudgeConfig) -> str | None:
    """The API key to send to `cfg.base_url`, or None. The default variable (OPENAI_API_KEY) is sent only to the
    default OpenAI endpoint: another URL gets a key only from a variable named for it (judge.api_key_env,
    `prolong eval --judge-key-env`), so `--judge-url` alone never hands an OpenAI key to another server."""
    if not cfg.api_key_env:
        return None
    if cfg.api_key_env == DEFAULT_KEY_ENV and cfg.base_url.rstrip("/") != DEFAULT_URL:
        return None
    return os.environ.get(cfg.api_key_env) or None


@dataclass(frozen=True)
class SummPrompts:
    """One Summ prompt set of eval_gpt4_summ.py: `fluency` takes {text}, `recall` {keypoints} and {summary},
    `precision` {expert_summary} and {summary}."""

    fluency: str
    recall: str
    precision: str


SUMM_PROMPTS = {"multi_lexsum": SummPrompts(SUMM_FLUENCY, SUMM_RECALL, SUMM_PRECISION),
                "infbench_sum": SummPrompts(BOOK_FLUENCY, BOOK_RECALL, BOOK_PRECISION)}


def summ_prompts(dataset: str) -> SummPrompts:
    """HELMET chooses by the results file's name: "infbench" in it -> the book prompts, else Multi-LexSum's. Here a
    Summ dataset without its own set is an error rather than silently judged as a legal case."""
    if dataset not in SUMM_PROMPTS:
        raise ValueError(f"no Summ judge prompts for {dataset!r} (HELMET has them for {sorted(SUMM_PROMPTS)})")
    return SUMM_PROMPTS[dataset]


class Judge:
    def __init__(self, cfg: JudgeConfig):
        self.cfg = cfg

    def chat(self, prompt: str, max_tokens: int) -> str:
        msgs = [{"role": "user", "content": prompt}]
        if self.cfg.system_message:
            msgs.insert(0, {"role": "system", "content": self.cfg.system_message})
        body = json.dumps({"model": self.cfg.model, "messages": msgs, "temperature": self.cfg.temperature,
                           "top_p": self.cfg.top_p, "max_tokens": max_tokens}).encode()
        headers = {"Content-Type": "application/json"}
        key = judge_key(self.cfg)
        if key:
            headers["Authorization"] = f"Bearer {key}"  # the key goes in this header only: never logged or stored
        req = urllib.request.Request(self.cfg.base_url.rstrip("/") + "/chat/completions", data=body, headers=headers)
        with urllib.request.urlopen(req, timeout=self.cfg.timeout_s) as resp:
            return json.loads(resp.read())["choices"][0]["message"]["content"]

    def _ask(self, prompt: str, max_tokens: int) -> dict | None:
        try:
            return parse_json(self.chat(prompt, max_tokens))
        except OSError:  # network / HTTP failure: the item goes unscored (HELMET's call_api returns None)
            return None

    def qa(self, question: str, answers: list[str], output: str) -> dict[str, float]:
        prompt = QA_JUDGE.format(question=question, correct_answers=list(answers),
                                 parsed_output=qa_parse_output(output))
        r = self._ask(prompt, self.cfg.max_tokens_qa)
        if r is None or "fluency" not in r or "correctness" not in r:
            return {}
        flu, cor = float(r["fluency"]), float(r["correctness"])
        return {"judge_fluency": flu, "judge_correctness": cor, "judge_score": flu * cor / 3.0}

    def summ(self, output: str, expert_summary: str, keypoints: list[str], dataset: str) -> dict[str, float]:
        """`expert_summary`: HELMET's precision reference (Multi-LexSum: summary/long; InfiniteBench: answer[0]);
        `keypoints`: the reference key points; `dataset` picks the prompt set (`summ_prompts`)."""
        prompts = summ_prompts(dataset)
        text = output.strip()  # HELMET judges the raw output, stripped (not the parsed one)
        f = self._ask(prompts.fluency.format(text=text), self.cfg.max_tokens_summ)
        r = self._ask(prompts.recall.format(keypoints="\n".join(f"{i + 1}. {kp}" for i, kp in enumerate(keypoints)),
                                            summary=text), self.cfg.max_tokens_summ)
        p = self._ask(prompts.precision.format(expert_summary=expert_summary, summary=text),
                      self.cfg.max_tokens_summ)
        if f is None or r is None or p is None:
            return {}
        try:
            return summ_scores(float(f["fluency"]), float(r["recall"]), len(keypoints), float(p["precision"]),
                               float(p["sentence_count"]))
        except (KeyError, TypeError, ValueError):
            return {}


def summ_scores(fluency: float, found: float, n_keypoints: int, supported: float, sentence_count: float
                ) -> dict[str, float]:
    """HELMET's per-item Summ numbers: recall = found / key points, precision = supported / sentence_count (0 when
    a denominator is 0, no clipping), f1 = fluency x harmonic mean."""
    rec = found / n_keypoints if n_keypoints > 0 else 0.0
    prec = supported / sentence_count if sentence_count > 0 else 0.0
    f1 = fluency * 2 * rec * prec / (rec + prec) if rec + prec > 0 else 0.0
    return {"judge_fluency": fluency, "judge_recall": rec, "judge_precision": prec, "judge_f1": f1,
            "judge_score": f1}


def qa_parse_output(output: str, prefix: str = "Answer:") -> str | None:
    """eval_gpt4_longqa.py's parse_output: newlines become spaces, then HELMET's usual prefix parsing."""
    return parse_output(output.replace("\n", " "), prefix)


def parse_json(text: str) -> dict | None:
    """HELMET's parse_json: the last non-greedy {...} (across lines) of the reply, else a ```json block."""
    matches = re.findall(r"\{.*?\}", text, re.DOTALL)
    if not matches:
        return None
    for cand in (matches[-1], *re.findall(r"(?:```json)(.+)(?:```)", text, re.DOTALL)[-1:]):
        try:
            obj = json.loads(cand)
        except json.JSONDecodeError:
            continue
        return obj if isinstance(obj, dict) else None
    return None


def parse_json_score(text: str, key: str) -> float | None:
    obj = parse_json(text)
    if obj is None or key not in obj:
        return None
    try:
        return float(obj[key])
    except (TypeError, ValueError):
        return None


def judge_item(judge: Judge, spec_category: str, dataset: str, item: Any, output: str) -> dict[str, float]:
    if spec_category == QA:
        return judge.qa(item.fields.get("question", ""), list(item.answers), output)
    keypoints = item.extra.get("keypoints")
    if not keypoints:
        raise ValueError(f"the {dataset} judge needs the reference key points ('keypoints' / "
                         "'summary/short_keypoints' in the data file, or InfiniteBench's keypoints file), as HELMET's "
                         "eval_gpt4_summ.py")
    if dataset == "multi_lexsum":
        # HELMET: summary/long; the short summary stands in where a file has none (the tiny suite's rows)
        expert = item.extra.get("summary_long") or item.answers[0]
    else:
        expert = item.answers[0]  # InfiniteBench Sum: the reference summary, HELMET's d["answer"][0]
    return judge.summ(output, expert, keypoints, dataset)
