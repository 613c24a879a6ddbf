"""Typed params of `prolong eval` (params/<scale>/eval.yaml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from prolong import paths
from prolong.config import Config, ConfigError
from prolong.eval.categories import CATEGORY_PRESETS, SHORT_TASKS
from prolong.eval.judge import JudgeConfig
from prolong.eval.tasks.registry import known_task

LONGDOC_MIN_TOKENS = {"narrativeqa": 131073, "multi_lexsum": 65536, "infbench_qa": 65536, "infbench_mc": 65536,
                      "infbench_sum": 65536}
"""HELMET's length filters (data.py), counted with Llama-2's tokenizer including BOS: NarrativeQA keeps documents of
more than 131,072 tokens, Multi-LexSum (validation split) and InfiniteBench of at least 65,536"""


@dataclass
class PPLConfig(Config):
    doc_tokens: int = 65536
    "documents are cut to this many tokens (shorter ones are skipped); Figure 1: 64K"
    tail_tokens: int = 32768
    "perplexity over the last this-many tokens of each document; Figure 1: 32K"
    file: str = "ppl/pg19.jsonl"
    "jsonl of {'text': ...} under data_dir (or absolute)"
    max_docs: int = 100
    "at most this many documents"
    chunk: int = 4096
    "tokens per forward chunk (KV cache carries the rest)"


@dataclass
class ShortConfig(Config):
    num_fewshot: dict[str, int] = field(default_factory=lambda: {**{t: 0 for t in SHORT_TASKS}, "gsm8k": 8})
    "demonstrations per short task (lm-eval-harness style)"
    max_samples: int = 0
    "0 = every item of each file"
    gsm8k_max_new_tokens: int = 256
    "generation budget for GSM8K"


@dataclass
class EvalConfig(Config):
    tasks: list[str] = field(default_factory=lambda: ["json_kv"])
    "datasets to run: names in prolong.eval.tasks.registry.TASKS (long-context datasets, 'ppl', short tasks)"
    lengths: list[int] = field(default_factory=lambda: [32768, 65536])
    "input lengths in tokens; the run's category scores average over them (paper: 32K and 64K)"
    num_samples: int = 100
    "test items per dataset (HELMET: 100)"
    icl_num_samples: int = 500
    "test items per ICL dataset (HELMET: 500)"
    seed: int = 42
    "sampling seed (HELMET's default)"
    shots: int = 2
    "demonstrations for JSON KV, RAG, Re-rank, QA, Summ"
    data_dir: str = ""
    "folder with HELMET's files (layout: prolong/eval/data_layout.md); '' = <data_dir()>/helmet"
    sizing: Literal["table", "fit"] = "fit"
    "'table': HELMET's per-length counts (passages, pairs, shots) from `counts`; 'fit': binary search to the length"
    counts: dict[str, dict[int, int]] = field(default_factory=dict)
    "dataset -> {length: count of KV pairs / passages / demonstrations} used when sizing == 'table'"
    doc_tokenizer: str = ""
    "tokenizer cutting QA/Summ documents (HELMET: meta-llama/Llama-2-7b-hf for all models); '' = the model's own"
    max_new_tokens: dict[str, int] = field(default_factory=dict)
    "per-dataset override of the generation length"
    batch_size: int = 1
    "prompts decoded together (sorted by length to limit padding)"
    prefill_chunk: int = 2048
    "tokens per prefill chunk"
    dtype: Literal["float32", "bfloat16", "float16"] = "bfloat16"
    "model dtype when loading a saved model (CPU tests use float32)"
    device: str = "auto"
    "'auto' = cuda if available else cpu"
    cpu_threads: int = 0
    "torch CPU threads (0: torch's default, one per core); the tiny evaluation fixes it (bitwise reproducible runs)"
    preset: Literal["helmet", "prolong"] = "helmet"
    "named category membership (prolong.eval.categories.CATEGORY_PRESETS): 'helmet' = HELMET's own (7 categories with "
    "Cite), 'prolong' = the paper's Table 13 subset; used when `categories` is empty"
    categories: dict[str, list[str]] = field(default_factory=dict)
    "category -> datasets averaged into it; {} = the `preset`'s membership (a run records which one it used)"
    stop_rule: Literal["released", "newline"] = "released"
    "'released': HELMET's code as released never stops at a newline (its configs' `stop_new_line` is not the argument "
    "`--stop_newline`); 'newline': stop where HELMET's configs say stop_new_line: true (RAG, Re-rank, ICL)"
    helmet_output: bool = True
    "also write every result under HELMET's own file name (+ .score) in <run>/helmet/, for HELMET's collect_results"
    helmet_tag: str = "eval"
    "HELMET's --tag, part of its output file names (its default: 'eval'; collect_results.py reads 'v1')"
    longdoc_min_tokens: dict[str, int] = field(default_factory=lambda: dict(LONGDOC_MIN_TOKENS))
    "QA/Summ dataset -> keep documents of at least this many tokens of `doc_tokenizer` (HELMET's filters; {} = none)"
    essay_file: str = ""
    "RULER MV haystack: an essay corpus under data_dir (or absolute), RULER's PaulGrahamEssays.json {'text'} or plain "
    "text; '' = the synthetic essay-like sentences"
    cite_nli_model: str = ""
    "local path of the NLI model scoring Cite's citations (HELMET: google/t5_xxl_true_nli_mixture); '' = citation "
    "metrics are reported missing, never 0"
    judge: JudgeConfig = field(default_factory=JudgeConfig)
    "model judge for QA/Summ"
    ppl: PPLConfig = field(default_factory=PPLConfig)
    short: ShortConfig = field(default_factory=ShortConfig)

    def __post_init__(self) -> None:
        if not self.tasks:
            raise ConfigError("tasks: give at least one task")
        if any(n <= 0 for n in self.lengths):
            raise ConfigError(f"lengths: must be positive, got {self.lengths}")
        if self.batch_size < 1 or self.prefill_chunk < 1 or self.num_samples < 1:
            raise ConfigError("batch_size, prefill_chunk and num_samples must be >= 1")
        for t in self.tasks:
            if not known_task(t):
                raise ConfigError(f"tasks: unknown task {t!r}")
        for cat, datasets in self.categories.items():
            for d in datasets:
                if not known_task(d):
                    raise ConfigError(f"categories.{cat}: unknown dataset {d!r}")

    def category_map(self) -> dict[str, list[str]]:
        """The categories this run averages: `categories` if given, else the `preset`'s."""
        if self.categories:
            return {k: list(v) for k, v in self.categories.items()}
        return {k: list(v) for k, v in CATEGORY_PRESETS[self.preset].items()}

    def category_source(self) -> str:
        """Which membership `category_map` is: the preset's name, or 'custom'."""
        return "custom" if self.categories else self.preset

    def data_root(self) -> Path:
        """The folder with HELMET's files: `data_dir`, else `<data_dir()>/helmet`."""
        return Path(self.data_dir) if self.data_dir else paths.data_dir() / "helmet"
