"""Typed params of a training stage: model / data / optim / train sections of one YAML file.

    params = TrainParams.from_yaml("params/tiny/stages/stage1.yaml")
    params.train.steps, params.optim.lr, params.data.seq_len, params.model.rope_theta
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

from prolong import paths
from prolong.config import Config, ConfigError
from prolong.model.build import ModelConfig
from prolong.sft.config import SFTDataConfig


@dataclass
class DataSection(Config):
    """What a stage trains on."""

    seq_len: int
    "tokens per packed sequence (paper: 65536 in Stage 1, 524288 in Stage 2, 65536 in SFT)"
    mixture: str | None = None
    "mixture params file (domain@proportion, prolong.data); relative paths are under the repository root"
    sft: SFTDataConfig | None = None
    "SFT data instead of a mixture (prolong.sft: chat conversations, assistant-token masks, whole-conversation packing)"
    tokenizer: str | None = None
    "tokenizer folder (relative paths under the data root); null: the one saved with model.pretrained"
    seed: int = 0
    "seed of the data stream (document order and domain draws)"

    def __post_init__(self) -> None:
        if self.seq_len <= 1:
            raise ConfigError(f"seq_len must be > 1, got {self.seq_len}")
        if (self.mixture is None) == (self.sft is None):
            raise ConfigError("data needs exactly one of 'mixture' (pretraining) and 'sft' (SFT)")

    def mixture_path(self) -> Path:
        if self.mixture is None:
            raise ConfigError("data.mixture is not set (this is an SFT stage: data.sft)")
        p = Path(self.mixture)
        return p if p.is_absolute() else paths.REPO_ROOT / p


@dataclass
class OptimConfig(Config):
    """AdamW and the learning-rate schedule (linear warmup, then cosine decay to a floor)."""

    lr: float = 1e-5
    "peak learning rate"
    betas: list[float] = field(default_factory=lambda: [0.9, 0.95])
    "AdamW (beta1, beta2)"
    eps: float = 1e-8
    "AdamW epsilon"
    weight_decay: float = 0.1
    "decoupled weight decay on matrices (not on norms)"
    grad_clip: float = 1.0
    "clip the global gradient norm to this value (0: no clipping)"
    warmup_fraction: float = 0.1
    "fraction of the stage's steps with linear warmup"
    min_lr_ratio: float = 0.1
    "the cosine decays to this fraction of the peak learning rate"

    def __post_init__(self) -> None:
        if not self.lr > 0:
            raise ConfigError(f"lr must be > 0, got {self.lr}")
        if len(self.betas) != 2 or not all(0 <= b < 1 for b in self.betas):
            raise ConfigError(f"betas must be two numbers in [0, 1), got {self.betas}")
        if self.weight_decay < 0 or self.grad_clip < 0 or self.eps <= 0:
            raise ConfigError("weight_decay and grad_clip must be >= 0 and eps > 0")
        if not 0 <= self.warmup_fraction < 1:
            raise ConfigError(f"warmup_fraction must be in [0, 1), got {self.warmup_fraction}")
        if not 0 <= self.min_lr_ratio <= 1:
            raise ConfigError(f"min_lr_ratio must be in [0, 1], got {self.min_lr_ratio}")


@dataclass
class TrainConfig(Config):
    """The loop: steps, batch, precision, checkpoints, where to start from."""

    steps: int
    "optimizer steps of the stage (the length of the LR schedule)"
    batch_size: int
    "sequences per optimizer step over all data-parallel groups (world size / sequence_parallel_size of them)"
    micro_batch_size: int = 1
    "sequences per forward pass of one data-parallel group (paper: 1); the rest is gradient accumulation"
    reorder_micro_batches: bool = True
    "order a step's micro-batches by attention cost (prolong.train.batching.attended_pairs; Table 15); off for T15's rows"
    sequence_parallel_size: int = 1
    "ranks that share every packed sequence, each a contiguous chunk (Ulysses all-to-all; paper: 8 in Stage 2)"
    seed: int = 0
    "seed of the model initialisation and the torch RNG"
    cpu_threads: int = 0
    "torch CPU threads (0: torch's default, one per core); the tiny stages fix it so runs are bitwise reproducible"
    precision: Literal["auto", "bf16", "fp32"] = "auto"
    "bf16 mixed precision (autocast; on a CPU too, slowly) or fp32; auto: bf16 on CUDA, fp32 on CPU"
    checkpoint_every: int = 125
    "write a checkpoint every this many steps (and at the last step)"
    keep_checkpoints: int | None = None
    "keep only the newest this many checkpoints; null keeps all"
    init_from: str | None = None
    "start from a previous stage's run: 'train/<run>' under the run store, or a run directory"
    load_optimizer: bool = False
    "with init_from: also restore that run's optimizer state (AdamW moments); the LR schedule restarts"
    peak_flops_per_device: float = 989e12
    "hardware peak FLOP/s of one device for MFU (H100 SXM dense bf16: 989e12)"

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "micro_batch_size", "sequence_parallel_size", "checkpoint_every"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.batch_size % self.micro_batch_size:
            raise ConfigError(f"batch_size {self.batch_size} is not a multiple of micro_batch_size "
                              f"{self.micro_batch_size}")
        if self.keep_checkpoints is not None and self.keep_checkpoints < 1:
            raise ConfigError(f"keep_checkpoints must be >= 1 or null, got {self.keep_checkpoints}")
        if self.load_optimizer and self.init_from is None:
            raise ConfigError("load_optimizer needs init_from (the run whose optimizer state to restore)")
        if not self.peak_flops_per_device > 0:
            raise ConfigError("peak_flops_per_device must be > 0")


@dataclass
class ParityConfig(Config):
    """Where the project departs from ProLong's released training code (princeton-nlp/ProLong, transformers 4.44
    Trainer), a switch to do as the released code did. Left at the defaults the section is not written into a run's
    params (TrainParams.to_dict), so runs logged before the section existed keep their fingerprints and names."""

    loss_average: Literal["token", "device"] = "token"
    ("token: a step's loss is the exact mean over all its target tokens (every rank, every micro-batch); device: the "
     "released Stages 1-2 (no --token_scaled_loss): each rank's micro-batch mean, averaged over ranks and "
     "accumulation steps, so a micro-batch with fewer targets weighs each of them more")
    decay_norm_weights: bool = False
    ("false: weight decay on matrices only; true: also on the 1-D weights (Llama's RMSNorm weights; it has no "
     "biases), as the released code most likely did (its own LlamaRMSNorm class is not in the Trainer's no-decay list)")

    def is_default(self) -> bool:
        return self == ParityConfig()


@dataclass
class TrainParams(Config):
    """One training stage (Stage 1, Stage 2)."""

    experiment: str
    "the stage this params file describes (e.g. stage1); its runs live under runs/train/ (prolong.runs)"
    model: ModelConfig
    "the model"
    data: DataSection
    "the data"
    optim: OptimConfig
    "optimizer and schedule"
    train: TrainConfig
    "the loop"
    name: str | None = None
    "run name; null derives one from the hyperparameters"
    label: str | None = None
    "row label in tables (prolong.runs); null uses the run name"
    parity: ParityConfig = field(default_factory=ParityConfig)
    "switches to train as ProLong's released code did where this project departs from it (README, Parity)"

    def __post_init__(self) -> None:
        if self.model.max_position_embeddings < self.data.seq_len:
            raise ConfigError(f"model.max_position_embeddings {self.model.max_position_embeddings} is shorter than "
                              f"data.seq_len {self.data.seq_len}")

    def to_dict(self) -> dict:
        """As Config.to_dict, without `parity` when it is all defaults: a run's params (hence its fingerprint and
        name) are those it had before the section existed unless a switch is set."""
        out = super().to_dict()
        if self.parity.is_default():
            del out["parity"]
        return out

    def run_name(self) -> str:
        """The given name, or one that encodes the stage's hyperparameters (ProLong style)."""
        if self.name:
            return self.name
        m, o, t = self.model, self.optim, self.train
        model = Path(m.pretrained).name if m.pretrained else f"llama-d{m.hidden_size}-l{m.num_layers}"
        theta = f"theta{m.rope_theta:g}" if m.rope_theta is not None else "theta-ckpt"
        parts = [model, f"len{_short(self.data.seq_len)}", theta, f"lr{o.lr:g}",
                 f"bs{t.batch_size}", f"steps{t.steps}"]
        if not m.doc_masking:
            parts.append("nodocmask")
        return "_".join(parts).replace("+", "")


def _short(n: int) -> str:
    return f"{n // 1024}K" if n % 1024 == 0 else str(n)


def warmup_steps(optim: OptimConfig, steps: int) -> int:
    return int(math.ceil(optim.warmup_fraction * steps))


def lr_at(step: int, optim: OptimConfig, steps: int) -> float:
    """Learning rate of optimizer step `step` (0-based): linear warmup over the first warmup_fraction of the steps
    (reaching the peak at the last warmup step), then cosine from the peak to min_lr_ratio * peak at the last step."""
    warm = warmup_steps(optim, steps)
    if step < warm:
        return optim.lr * (step + 1) / warm
    decay_steps = max(1, steps - 1 - warm)
    progress = min(1.0, (step - warm) / decay_steps)
    return optim.lr * (optim.min_lr_ratio + (1 - optim.min_lr_ratio) * 0.5 * (1 + math.cos(math.pi * progress)))
