"""FLOPs of a training step, for MFU (model FLOPs utilisation).

    flops(step) = 6 * N * tokens  +  12 * n_layer * d_attn * attended_pairs

  N               parameters that do matmuls: all parameters except the input embedding (a lookup), lm_head included
  6 N             forward (2 N) + backward (4 N) FLOPs per token of the dense layers
  d_attn          n_heads * head_dim (query width; GQA shares keys/values but every query head attends)
  attended_pairs  prolong.train.batching.attended_pairs: sum over tokens of how many keys each attends to. Causal
                  attention over a span of n tokens attends n (n + 1) / 2 pairs; with document masks the spans are the
                  documents, so a 64K sequence of short documents costs far less than one 64K document.
  12 per pair and layer: Q K^T and A V are 2 matmuls of 2 FLOPs per multiply-add per d_attn -> 4 d_attn forward,
                  x3 for forward + backward.
This is the PaLM / nanoGPT formula with the attention context made exact. Activation recomputation (gradient
checkpointing, the block-wise loss's logits) is not counted: MFU counts model FLOPs, not hardware FLOPs. The norm
weights are in N although they multiply elementwise (2 L d + d of them, <0.01% of an 8B model).
tests/train/test_flops.py checks this against torch's FlopCounterMode on the tiny model.
MFU = flops(step) / (step time * peak FLOP/s per device * devices).
"""

from __future__ import annotations

from dataclasses import dataclass

from torch import nn


def n_flop_params(model: nn.Module) -> int:
    """Parameters minus the input embedding (counted before any sharding)."""
    total = sum(p.numel() for p in model.parameters())
    emb = model.get_input_embeddings().weight
    out = model.get_output_embeddings()
    tied = out is not None and out.weight is emb  # tied: the matrix does the lm_head matmul, count it
    return total if tied else total - emb.numel()


def flops_per_step(n_params: int, n_layers: int, d_attn: int, tokens: int, attended_pairs: int) -> float:
    return 6.0 * n_params * tokens + 12.0 * n_layers * d_attn * attended_pairs


@dataclass(frozen=True)
class StepFlops:
    """The model constants of the formula, read once from the (unsharded) model: `StepFlops.of(lm)(tokens, pairs)`."""

    n_params: int
    n_layers: int
    d_attn: int

    @classmethod
    def of(cls, lm: nn.Module) -> StepFlops:
        cfg = lm.config
        head_dim = getattr(cfg, "head_dim", None) or cfg.hidden_size // cfg.num_attention_heads
        return cls(n_flop_params(lm), cfg.num_hidden_layers, cfg.num_attention_heads * head_dim)

    def __call__(self, tokens: int, attended_pairs: int) -> float:
        return flops_per_step(self.n_params, self.n_layers, self.d_attn, tokens, attended_pairs)
