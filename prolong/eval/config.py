"""Typed params of `prolong eval` (params/<scale>/eval.yaml)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from prolong import paths
from prolong.config import Config, ConfigError
from prolong.eval.categories import PROLONG_CATEGORIES, SHORT_TASKS
from prolong.eval.judge import JudgeConfig
from prolong.eval.tasks.registry import known_task

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
    categories: dict[str, list[str]] = field(default_factory=lambda: {k: list(v) for k, v in
                                                                      PROLONG_CATEGORIES.items()})
    "category -> datasets averaged into it (default: the paper's Table 13)"
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

    def data_root(self) -> Path:
        """The folder with HELMET's files: `data_dir`, else `<data_dir()>/helmet`."""
        return Path(self.data_dir) if self.data_dir else paths.data_dir() / "helmet"
