"""Typed params of the SFT data: the `data.sft` section of an SFT stage's params file (params/*/sft.yaml).

    sft:
      sources:
        ultrachat: {path: sft/ultrachat.jsonl, format: ultrachat, proportion: 1.0}
      lookahead: 8
      overlong: truncate
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from prolong.config import Config, ConfigError
from prolong.data.config import resolve_data_path


@dataclass
class SFTSource(Config):
    """One file (or `datasets` folder) of conversations, one domain of the SFT stream."""

    path: str
    "JSONL file or datasets.save_to_disk folder; relative paths are under the data root (prolong.paths.data_dir)"
    format: Literal["auto", "ultrachat", "tulu", "sharegpt"] = "auto"
    "record shape (prolong.sft.formats): ultrachat | tulu (messages) | sharegpt (conversations) | auto"
    proportion: float = 1.0
    "share of the SFT stream's tokens (= share of its packed sequences, all seq_len long) from this source"
    strict: bool = True
    "a bad record is an error naming file:line (true) or is skipped, counted and listed (false)"
    limit: int | None = None
    "read at most this many conversations (null: all)"

    def __post_init__(self) -> None:
        if not 0 <= self.proportion <= 1:
            raise ConfigError(f"proportion must be in [0, 1], got {self.proportion}")
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"limit must be >= 1 or null, got {self.limit}")

    def resolved_path(self) -> Path:
        return resolve_data_path(self.path)


@dataclass
class SFTDataConfig(Config):
    """Conversations, how they are chat-formatted and packed, and in which proportions they are mixed."""

    sources: dict[str, SFTSource] = field(default_factory=dict)
    "domain name -> source; proportions sum to 1 (sources with proportion 0 are not read)"
    mask_method: Literal["auto", "tags", "prefix"] = "auto"
    "how assistant tokens are found (prolong.sft.template): generation tags, prefix rendering, or auto"
    lookahead: int = 8
    "conversations considered when filling a sequence first-fit (1: plain greedy in data order)"
    overlong: Literal["truncate", "skip"] = "truncate"
    "a conversation longer than the sequence: cut to seq_len tokens, or skipped (both counted)"
    cache: bool = True
    "cache the tokenized conversations under <data>/sft_cache (keyed by file, tokenizer and template)"

    def __post_init__(self) -> None:
        if not self.sources:
            raise ConfigError("sft.sources is empty")
        total = sum(s.proportion for s in self.sources.values())
        if abs(total - 1.0) > 1e-6:
            raise ConfigError(f"sft.sources proportions sum to {total:g}, expected 1")
        if self.lookahead < 1:
            raise ConfigError(f"lookahead must be >= 1, got {self.lookahead}")

    def proportions(self) -> dict[str, float]:
        """Domains with a positive proportion, in the order written."""
        return {name: s.proportion for name, s in self.sources.items() if s.proportion > 0}
