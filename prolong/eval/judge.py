"""Model judge for QA and Summarization (HELMET's GPT-4o evaluation), over any OpenAI-compatible chat endpoint.

Off by default. Scoring follows HELMET: QA = fluency (0/1) x correctness (0-3), scaled to [0, 1] per item (x100 in
the averages); Summ = fluency x F1 of (recall of the reference key points present in the summary, precision of the
summary's sentences supported by the reference). The rubric prompts are condensed versions of HELMET's (same scales,
same JSON answers), not verbatim copies. Key points come from the data ("keypoints"); when absent, the sentences of
the reference summary serve as key points. The API key is read from the environment variable named in the config.
"""

from __future__ import annotations

import json
import os
import re
import urllib.request
from dataclasses import dataclass
from typing import Any

from prolong.config import Config

FLUENCY = ("Please act as an impartial judge and evaluate the fluency of the provided text. The text should be "
           "coherent, non-repetitive, fluent, and grammatically correct.\n\nBelow is your grading rubric:\n"
           "- Score 0 (incoherent, repetitive, or incomplete): incoherent sentences, repetitive sentences (even if not "
           "by exact words), incomplete answers, or gibberish.\n- Score 1 (coherent, non-repetitive answer): coherent, "
           "non-repetitive, fluent, grammatically correct answers; a truncated last sentence is still fine.\n\n"
           "Now, read the provided text, and evaluate the fluency using the rubric. Then output your score in the "
           "following json format: {{\"fluency\": 1}}.\n\nText: \"{text}\"\n")
QA_CORRECTNESS = ("Please act as an impartial judge and evaluate the quality of the provided answer which attempts to "
                  "answer the provided question based on a provided context.\n\nBelow is your grading rubric:\n"
                  "- Score 0: the answer is completely unrelated to the reference.\n- Score 1: the answer has minor "
                  "relevance but does not align with the reference.\n- Score 2: the answer has moderate relevance but "
                  "contains inaccuracies.\n- Score 3: the answer is correct and aligns with the reference; extra "
                  "details are fine if consistent.\n\nNow, read the question, the reference answers and the provided "
                  "answer, and evaluate using the rubric. First think step-by-step, then output your score in the "
                  "following json format: {{\"correctness\": 1}}.\n\nQuestion: {question}\n\nReference answer(s): "
                  "{answers}\n\nProvided answer: {output}\n")
SUMM_RECALL = ("Please act as an impartial judge and evaluate the quality of the provided summary. Decide for each key "
               "point whether it is present in the summary (its factual information is well-supported by the "
               "summary).\nScore: the number of key points present in the provided summary.\n\nFirst think "
               "step-by-step, then output your score in the following json format: {{\"recall\": 2}}.\n\nKey points:\n"
               "{keypoints}\n\nSummary: \"{summary}\"\n")
SUMM_PRECISION = ("Please act as an impartial judge and evaluate the quality of the provided summary. Decide for each "
                  "sentence of the summary whether its factual information is supported by the expert-written "
                  "summary.\nScore: the number of sentences in the provided summary that are supported.\n\nFirst think "
                  "step-by-step, then output your score in the following json format: {{\"precision\": 2, "
                  "\"sentence_count\": 3}}.\n\nExpert summary: \"{reference}\"\n\nProvided summary sentences:\n"
                  "{sentences}\n")


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
    max_tokens: int = 1024
    "judge response length"


class Judge:
    def __init__(self, cfg: JudgeConfig):
        self.cfg = cfg

    def chat(self, prompt: str) -> str:
        body = json.dumps({"model": self.cfg.model, "messages": [{"role": "user", "content": prompt}],
                           "temperature": 0.0, "max_tokens": self.cfg.max_tokens}).encode()
        headers = {"Content-Type": "application/json"}
        key = os.environ.get(self.cfg.api_key_env)
        if key:
            headers["Authorization"] = f"Bearer {key}"
        req = urllib.request.Request(self.cfg.base_url.rstrip("/") + "/chat/completions", data=body, headers=headers)
        with urllib.request.urlopen(req, timeout=self.cfg.timeout_s) as resp:
            return json.loads(resp.read())["choices"][0]["message"]["content"]

    def ask(self, prompt: str, key: str) -> float | None:
        """The integer under `key` in the last JSON object of the judge's reply (None if unparsable)."""
        return parse_json_score(self.chat(prompt), key)

    def qa(self, question: str, answers: list[str], output: str) -> dict[str, float]:
        flu = self.ask(FLUENCY.format(text=output), "fluency")
        cor = self.ask(QA_CORRECTNESS.format(question=question, answers=", ".join(answers), output=output),
                       "correctness")
        flu, cor = float(flu or 0), float(cor or 0)
        return {"judge_fluency": flu, "judge_correctness": cor, "judge_score": flu * min(cor, 3.0) / 3.0}

    def summ(self, output: str, reference: str, keypoints: list[str] | None) -> dict[str, float]:
        kps = keypoints or split_sentences(reference)
        sents = split_sentences(output)
        flu = float(self.ask(FLUENCY.format(text=output), "fluency") or 0)
        rec_n = float(self.ask(SUMM_RECALL.format(keypoints="\n".join(f"{i + 1}. {k}" for i, k in enumerate(kps)),
                                                  summary=output), "recall") or 0)
        prec_n = float(self.ask(SUMM_PRECISION.format(reference=reference,
                                                      sentences="\n".join(f"{i + 1}. {s}" for i, s in
                                                                          enumerate(sents))), "precision") or 0)
        recall = min(rec_n / len(kps), 1.0) if kps else 0.0
        precision = min(prec_n / len(sents), 1.0) if sents else 0.0
        f1 = 2 * recall * precision / (recall + precision) if recall + precision > 0 else 0.0
        return {"judge_fluency": flu, "judge_recall": recall, "judge_precision": precision, "judge_f1": f1,
                "judge_score": flu * f1}


def parse_json_score(text: str, key: str) -> float | None:
    for m in reversed(list(re.finditer(r"\{[^{}]*\}", text))):
        try:
            obj = json.loads(m.group(0))
        except json.JSONDecodeError:
            continue
        if key in obj:
            try:
                return float(obj[key])
            except (TypeError, ValueError):
                return None
    return None


def split_sentences(text: str) -> list[str]:
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+", text.strip()) if s.strip()]


def judge_item(judge: Judge, spec_category: str, item: Any, output: str) -> dict[str, float]:
    if spec_category == "QA":
        return judge.qa(item.fields.get("question", ""), list(item.answers), output)
    return judge.summ(output, item.answers[0], item.extra.get("keypoints"))
