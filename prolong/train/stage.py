"""The pieces a training stage is built from, before its first step: the data stream and tokenizer, the model (a
previous stage's, a pretrained checkpoint or a fresh small Llama), the AdamW optimizer and its hyperparameters, and
at the end the final model in Hugging Face format. The loop itself is prolong.train.loop.
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Protocol

import torch
from accelerate import Accelerator
from transformers import PreTrainedModel

from prolong import paths
from prolong.data.config import resolve_data_path
from prolong.data.mixing import MixtureStream
from prolong.data.tokenizer import load_tokenizer, tokenizer_identity
from prolong.model.build import build_model, check_vocab, resolve_model_path
from prolong.runs import MODEL_DIR
from prolong.sft.stream import sft_stream_factory
from prolong.tiny import require_built
from prolong.train.config import OptimConfig, TrainParams
from prolong.train.distributed import on_main_then_all
from prolong.train.export import make_portable


class Stream(Protocol):
    """A rank's resumable iterator of PackedSequences (prolong.data.mixing.MixtureStream)."""

    def __next__(self) -> Any: ...
    def state_dict(self) -> dict: ...
    def load_state_dict(self, state: dict) -> None: ...


StreamFactory = Callable[[int, int], Stream]  # (dp_rank, dp_size) -> stream


@dataclass
class DataSetup:
    """What the loop needs from the data side."""

    stream_factory: StreamFactory
    vocab_size: int | None = None
    "tokenizer vocabulary size (checked against the model's embedding)"
    tokenizer_path: str | None = None
    "saved next to the final model"


def build_data(params: TrainParams, acc: Accelerator) -> DataSetup:
    """The mixture stream and tokenizer of a stage from its params (prolong.data)."""
    tok_path = params.data.tokenizer
    if tok_path is None and params.model.pretrained is not None:
        tok_path = str(resolve_model_path(params.model.pretrained))  # the checkpoint's own tokenizer
    if tok_path is None:
        raise ValueError("data.tokenizer is not set and there is no model.pretrained to take the tokenizer from")
    resolved = str(resolve_data_path(tok_path))
    sft_files = [s.resolved_path() for s in params.data.sft.sources.values() if s.proportion > 0] \
        if params.data.sft is not None else []
    require_built(resolved, *sft_files)  # tiny data is built by `prolong data build-tiny`, never here
    tokenizer = load_tokenizer(resolved)
    identity = tokenizer_identity(tokenizer, resolved)
    if params.data.sft is not None:  # SFT: chat conversations with assistant-token masks (prolong.sft)
        sft = on_main_then_all(acc, lambda: sft_stream_factory(params.data.sft, tokenizer, params.data.seq_len,
                                                               params.data.seed))
        return DataSetup(sft, vocab_size=len(tokenizer), tokenizer_path=resolved)
    mixture = params.data.mixture_path()

    def factory(dp_rank: int, dp_size: int) -> Stream:
        return MixtureStream.from_yaml(mixture, params.data.seq_len, params.data.seed, dp_rank, dp_size,
                                       tokenizer=identity)

    return DataSetup(factory, vocab_size=len(tokenizer), tokenizer_path=resolved)


def resolve_run_dir(ref: str) -> Path:
    """'train/<run>' under the run store, or a run directory path."""
    p = Path(ref).expanduser()
    candidates = [p] if p.is_absolute() else [paths.runs_dir() / ref, Path.cwd() / ref]
    for c in candidates:
        if (c / "run.json").is_file():
            return c
    raise FileNotFoundError(f"init_from {ref!r}: no run directory at {candidates[0]} (expected 'train/<run>' "
                            f"of a finished run under {paths.runs_dir()})")


def init_model(p: TrainParams, data: DataSetup, init_run: Path | None) -> PreTrainedModel:
    """The stage's causal LM: the previous stage's final model (init_from), the pretrained checkpoint, or a small
    Llama initialised from the current seed; its embedding must cover the tokenizer."""
    init_path = None
    if init_run is not None:
        init_path = init_run / MODEL_DIR
        if not init_path.is_dir():
            raise FileNotFoundError(f"init_from {p.train.init_from}: {init_path} not found (the run has not finished)")
    lm = build_model(p.model, vocab_size=data.vocab_size, init_path=init_path)
    if data.vocab_size is not None:
        check_vocab(data.vocab_size, lm)
    return lm


def make_optimizer(model: torch.nn.Module, optim: OptimConfig, decay_norm_weights: bool = False
                   ) -> torch.optim.AdamW:
    """AdamW in two groups, matrices and 1-D weights (norm weights; Llama has no biases). Weight decay on matrices
    only, or also on the 1-D weights with `decay_norm_weights` (TrainParams.parity: as ProLong's released code). The
    groups are the same either way, so a stage can load another's optimizer state whatever the switch."""
    decay, vectors = [], []
    for p in model.parameters():
        if p.requires_grad:
            (decay if p.ndim >= 2 else vectors).append(p)
    groups = [{"params": decay, "weight_decay": optim.weight_decay},
              {"params": vectors, "weight_decay": optim.weight_decay if decay_norm_weights else 0.0}]
    return torch.optim.AdamW(groups, lr=optim.lr, betas=tuple(optim.betas), eps=optim.eps)


def reset_hyperparameters(optimizer: torch.optim.Optimizer, optim: OptimConfig,
                          decay_norm_weights: bool = False) -> None:
    """After loading another stage's optimizer state: keep its moments, take this stage's hyperparameters."""
    for i, group in enumerate(optimizer.param_groups):
        group.update(lr=optim.lr, initial_lr=optim.lr, betas=tuple(optim.betas), eps=optim.eps,
                     weight_decay=optim.weight_decay if i == 0 or decay_norm_weights else 0.0)


def set_lr(optimizer: torch.optim.Optimizer, lr: float) -> None:
    for group in optimizer.param_groups:
        group["lr"] = lr


def save_final_model(acc: Accelerator, net: torch.nn.Module, out: Path, tokenizer_path: str | None,
                     dtype: torch.dtype = torch.float32) -> None:
    """The trained model in Hugging Face format (written to a temp dir, then renamed), weights in `dtype`, config and
    tokenizer readable by transformers 4.44+ and 5 (prolong.train.export.make_portable)."""
    state = acc.get_state_dict(net)  # full state dict (gathered on rank 0 under FSDP)
    if acc.is_main_process:
        weights = {k.removeprefix("lm."): (v.to(dtype) if v.is_floating_point() else v) for k, v in state.items()}
        write_model_folder(acc.unwrap_model(net).lm, out, tokenizer_path, dtype, weights)
    acc.wait_for_everyone()


def write_model_folder(lm: torch.nn.Module, out: Path, tokenizer_path: str | None, dtype: torch.dtype,
                       state_dict: dict[str, torch.Tensor] | None = None) -> None:
    """One process's half of `save_final_model`: `lm` (or `state_dict` on its config) and the tokenizer into a temp
    folder, made portable, then renamed onto `out`, so a crash never leaves half a model under `out`."""
    tmp = out.parent / f".tmp-{out.name}"
    shutil.rmtree(tmp, ignore_errors=True)
    lm.save_pretrained(tmp, state_dict=state_dict)
    if tokenizer_path is not None:
        load_tokenizer(tokenizer_path).save_pretrained(tmp)
    make_portable(tmp, dtype)
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)
