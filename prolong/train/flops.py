"""FLOPs of a training step, for MFU (model FLOPs utilisation).

    flops(step) = 6 * N * tokens  +  12 * n_layer * d_attn * attended_pairs

  N               parameters that do matmuls: all parameters except the input embedding (a lookup), lm_head included
  6 N             forward (2 N) + backward (4 N) FLOPs per token of the dense layers
  d_attn          n_heads * head_dim (query width; GQA shares keys/values but every query head attends)
  attended_pairs  sum over tokens of how many keys each attends to. Causal attention over a span of n tokens attends
                  n (n + 1) / 2 pairs; with document masks the spans are the documents, so the attention term uses the
                  actual document lengths (a 64K sequence of short documents costs far less than one 64K document).
  12 per pair and layer: Q K^T and A V are 2 matmuls of 2 FLOPs per multiply-add per d_attn -> 4 d_attn forward,
                  x3 for forward + backward.
This is the PaLM / nanoGPT formula with the attention context made exact. Activation recomputation (gradient
checkpointing, the block-wise loss) is not counted: MFU counts model FLOPs, not hardware FLOPs.
MFU = flops(step) / (step time * peak FLOP/s per device * devices).
"""

from __future__ import annotations

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
