"""Building the Llama-architecture model of a stage: a local Hugging Face checkpoint (paper scale) or a small config
(tiny scale), with the stage's RoPE theta and context length, document-masked attention and the block-wise loss.

    model = build_model(cfg.model, vocab_size=len(tokenizer))     # LlamaForCausalLM with attn "prolong_doc"
    net = CausalLMWithLoss(model, block_size=cfg.model.loss_block_size)
    loss_sum, n_targets = net(input_ids, position_ids, labels, cu_seq_lens, max_length)
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Literal

import torch
from torch import nn
from transformers import AutoConfig, AutoModelForCausalLM, LlamaConfig, LlamaForCausalLM, PreTrainedModel

from prolong import paths
from prolong.config import Config, ConfigError
from prolong.integrity import check_safetensors
from prolong.model.attention import ATTN_IMPLEMENTATION, BACKENDS, register
from prolong.model.loss import block_cross_entropy
from prolong.model.rope import keep_rope_fp32


@dataclass
class ModelConfig(Config):
    """The model of one training stage."""

    pretrained: str | None = None
    "local Hugging Face checkpoint to start from (paper: Llama-3-8B-Instruct; a relative path is under the data root, $PROLONG_DATA); null builds the small config below"
    hidden_size: int = 128
    "width of the from-scratch model (ignored with `pretrained`)"
    intermediate_size: int = 384
    "MLP width of the from-scratch model"
    num_layers: int = 4
    "decoder layers of the from-scratch model"
    num_heads: int = 4
    "query heads of the from-scratch model"
    num_kv_heads: int = 2
    "key/value heads of the from-scratch model (grouped-query attention when fewer than num_heads)"
    vocab_size: int | None = None
    "embedding rows of the from-scratch model; null takes the tokenizer's vocabulary size"
    rope_theta: float | None = None
    "RoPE theta of this stage (paper: 8e6 at 64K, 1.28e8 at 512K); null keeps the checkpoint's (1e4 from scratch)"
    max_position_embeddings: int = 1024
    "context window written into the model config (the stage's sequence length)"
    doc_masking: bool = True
    "attend only within each packed document (false: plain causal attention over the whole sequence, Table 20)"
    attention: Literal["auto", "flash", "flex", "sdpa"] = "auto"
    "attention kernel: auto = flash-attn varlen on CUDA if installed, else FlexAttention on CUDA, per-document SDPA on CPU"
    gradient_checkpointing: bool = False
    "recompute each decoder layer in the backward pass"
    loss_block_size: int = 2048
    "tokens per block of the block-wise logits and cross entropy"

    def __post_init__(self) -> None:
        for name in ("hidden_size", "intermediate_size", "num_layers", "num_heads", "num_kv_heads",
                     "max_position_embeddings", "loss_block_size"):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{name} must be positive, got {getattr(self, name)}")
        if self.pretrained is None:
            if self.hidden_size % self.num_heads:
                raise ConfigError(f"hidden_size {self.hidden_size} is not a multiple of num_heads {self.num_heads}")
            if self.num_heads % self.num_kv_heads:
                raise ConfigError(f"num_heads {self.num_heads} is not a multiple of num_kv_heads {self.num_kv_heads}")
        if self.rope_theta is not None and self.rope_theta <= 0:
            raise ConfigError(f"rope_theta must be positive, got {self.rope_theta}")
        if self.vocab_size is not None and self.vocab_size <= 0:
            raise ConfigError(f"vocab_size must be positive, got {self.vocab_size}")
        if self.attention not in BACKENDS:
            raise ConfigError(f"attention must be one of {BACKENDS}, got {self.attention!r}")


class VocabMismatchError(ValueError):
    """A tokenizer whose token ids do not all fit the model's embedding matrix."""


def _stage_settings(config, cfg: ModelConfig) -> None:
    """Write the stage's RoPE theta, context length and attention into a transformers config (in place).

    An unset theta keeps the config's own RoPE parameters (a checkpoint's theta and any rope scaling); a model built
    from scratch then gets theta 1e4."""
    if cfg.rope_theta is not None:
        config.rope_parameters = {"rope_type": "default", "rope_theta": float(cfg.rope_theta)}
    elif not getattr(config, "rope_parameters", None):
        config.rope_parameters = {"rope_type": "default", "rope_theta": 10000.0}
    config.max_position_embeddings = cfg.max_position_embeddings
    config.use_cache = False
    config.prolong_attn_backend = cfg.attention  # read by prolong.model.attention.document_attention


def resolve_model_path(path: str | Path) -> Path:
    """`~` and `$VARS` expanded; a relative path is taken under the data root (prolong.paths.data_dir())."""
    p = Path(os.path.expandvars(os.path.expanduser(str(path))))
    return p if p.is_absolute() else paths.data_dir() / p


def build_model(cfg: ModelConfig, vocab_size: int | None = None, init_path: str | Path | None = None,
                dtype: torch.dtype = torch.float32) -> PreTrainedModel:
    """The causal LM of a stage. `init_path` (a previous stage's saved model) overrides `cfg.pretrained`; without
    either, a small Llama is initialised from the current torch seed with `cfg.vocab_size or vocab_size` rows."""
    register()
    path = init_path if init_path is not None else cfg.pretrained
    if path is not None:
        path = resolve_model_path(path)
        if not (path / "config.json").is_file():
            what = "directory not found" if not path.exists() else "no config.json in it"
            raise FileNotFoundError(f"model checkpoint {path}: {what} (model.pretrained must be a local Hugging Face "
                                    "checkpoint directory, e.g. a download of meta-llama/Meta-Llama-3-8B-Instruct)")
        check_safetensors(path)  # a truncated model is named with its file
        config = AutoConfig.from_pretrained(path, local_files_only=True)
        _stage_settings(config, cfg)
        model = AutoModelForCausalLM.from_pretrained(path, config=config, dtype=dtype, local_files_only=True,
                                                     attn_implementation=ATTN_IMPLEMENTATION)
    else:
        n_vocab = cfg.vocab_size or vocab_size
        if n_vocab is None:
            raise ValueError("a from-scratch model needs model.vocab_size or the tokenizer's vocabulary size")
        config = LlamaConfig(
            vocab_size=n_vocab, hidden_size=cfg.hidden_size, intermediate_size=cfg.intermediate_size,
            num_hidden_layers=cfg.num_layers, num_attention_heads=cfg.num_heads,
            num_key_value_heads=cfg.num_kv_heads, tie_word_embeddings=False,
            bos_token_id=None, eos_token_id=None, pad_token_id=None,
        )
        _stage_settings(config, cfg)
        config._attn_implementation = ATTN_IMPLEMENTATION
        model = LlamaForCausalLM(config).to(dtype)
    if model.config._attn_implementation != ATTN_IMPLEMENTATION:
        model.set_attn_implementation(ATTN_IMPLEMENTATION)
    keep_rope_fp32(model)  # RoPE frequencies stay fp32 under bf16 casts and FSDP mixed precision
    return model  # cfg.gradient_checkpointing is applied for training by prolong.train.parallelize


def check_vocab(tokenizer_vocab_size: int, model: PreTrainedModel) -> None:
    """Every token id of the tokenizer must index a row of the model's input embedding."""
    rows = model.get_input_embeddings().weight.shape[0]
    if tokenizer_vocab_size > rows:
        raise VocabMismatchError(
            f"the tokenizer has {tokenizer_vocab_size} tokens but the model's embedding has {rows} rows: "
            "use the tokenizer that belongs to the checkpoint (or set model.vocab_size >= the tokenizer's size)")


LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor, int], tuple[torch.Tensor, torch.Tensor]]


class CausalLMWithLoss(nn.Module):
    """The causal LM and its loss in one forward, so that under FSDP the lm_head weight is gathered while the loss
    uses it. `loss_fn(hidden (1, T, d), lm_head weight (V, d), labels (1, T), block_size) -> (loss_sum, n_targets)`
    is pluggable (SFT, sequence parallelism)."""

    def __init__(self, lm: PreTrainedModel, block_size: int = 2048, loss_fn: LossFn = block_cross_entropy):
        super().__init__()
        self.lm = lm
        self.block_size = block_size
        self.loss_fn = loss_fn

    def forward(self, input_ids: torch.Tensor, position_ids: torch.Tensor, labels: torch.Tensor,
                cu_seq_lens: torch.Tensor | None = None, max_length: int | None = None
                ) -> tuple[torch.Tensor, torch.Tensor]:
        """input_ids/position_ids/labels (1, T); cu_seq_lens (n_docs + 1,) int32 document boundaries."""
        hidden = self.hidden_states(input_ids, position_ids, cu_seq_lens, max_length)  # (1, T, d)
        return self.loss_fn(hidden, self.lm.lm_head.weight, labels, self.block_size)

    def hidden_states(self, input_ids: torch.Tensor, position_ids: torch.Tensor,
                      cu_seq_lens: torch.Tensor | None = None, max_length: int | None = None) -> torch.Tensor:
        docs = {}
        if cu_seq_lens is not None:
            docs = dict(cu_seq_lens_q=cu_seq_lens, cu_seq_lens_k=cu_seq_lens,
                        max_length_q=max_length, max_length_k=max_length)
        out = self.lm.model(input_ids=input_ids, position_ids=position_ids, use_cache=False, **docs)
        return out.last_hidden_state


def logits(lm: PreTrainedModel, input_ids: torch.Tensor, position_ids: torch.Tensor,
           cu_seq_lens: torch.Tensor | None = None, max_length: int | None = None) -> torch.Tensor:
    """Full logits (1, T, V) of a packed row (for tests and short evaluation; training uses the block loss)."""
    hidden = CausalLMWithLoss(lm).hidden_states(input_ids, position_ids, cu_seq_lens, max_length)
    return lm.lm_head(hidden)
