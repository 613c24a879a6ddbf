"""Cross entropy computed in blocks of tokens, so the logits of a 64K-512K token sequence never exist at once.

The paper computes logits and cross entropy in 2048-token blocks. Each block's logits (block, vocab) are made from the
final hidden states times the lm_head weight inside `torch.utils.checkpoint`: the forward keeps only the hidden states
and the scalar block loss, and the backward recomputes one block's logits at a time. Peak extra memory is one block of
fp32 logits (2048 x 128K x 4 bytes = 1 GiB for Llama-3) instead of the whole sequence's (32 GiB at 64K).

The function returns the *sum* of token losses and the number of target tokens; the training loop divides by the
exact target count of the whole optimizer step (all micro-batches, all ranks), which a per-batch mean cannot do.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch.utils.checkpoint import checkpoint

IGNORE_INDEX = -100

# A micro-batch whose fp32 logits take at most this many bytes (T x V x 4) keeps them for the backward instead of
# recomputing them per block: the same operations on the same values, so the same bits, without a second lm_head
# matmul and log-softmax per block (the tiny scale's 4K x 2K-vocab rows: 32 MiB, 5-8% of a CPU step). The paper's
# 64K x 128K rows (32 GiB) are far above it and keep the recomputation.
KEEP_LOGITS_BYTES = 256 * 2**20


def _block_loss(hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """hidden (n, d), weight (V, d), labels (n,) -> summed cross entropy of the block (fp32 scalar)."""
    logits = hidden @ weight.t()  # (n, V)
    return F.cross_entropy(logits.float(), labels, ignore_index=IGNORE_INDEX, reduction="sum")


def block_cross_entropy(hidden: torch.Tensor, weight: torch.Tensor, labels: torch.Tensor, block_size: int = 2048
                        ) -> tuple[torch.Tensor, torch.Tensor]:
    """Sum of next-token cross entropy over target tokens, and their count.

    hidden: (..., T, d) final hidden states (after the last norm); weight: (V, d) lm_head weight;
    labels: (..., T) target token ids, IGNORE_INDEX (-100) where a position has no target (labels are already
    shifted: labels[t] is the token that position t predicts). Returns (loss_sum fp32 scalar, n_targets int64 scalar).
    """
    if block_size <= 0:
        raise ValueError(f"block_size must be positive, got {block_size}")
    hidden = hidden.reshape(-1, hidden.shape[-1])
    labels = labels.reshape(-1)
    if hidden.shape[0] != labels.shape[0]:
        raise ValueError(f"hidden states cover {hidden.shape[0]} tokens but labels {labels.shape[0]}")
    n_targets = (labels != IGNORE_INDEX).sum()
    recompute = hidden.shape[0] * weight.shape[0] * 4 > KEEP_LOGITS_BYTES
    total = hidden.new_zeros((), dtype=torch.float32)
    for start in range(0, hidden.shape[0], block_size):
        block_labels = labels[start:start + block_size]
        if not (block_labels != IGNORE_INDEX).any():
            continue  # no target here: skip the matmul
        block_hidden = hidden[start:start + block_size]
        if recompute and torch.is_grad_enabled() and (block_hidden.requires_grad or weight.requires_grad):
            total = total + checkpoint(_block_loss, block_hidden, weight, block_labels, use_reentrant=False)
        else:
            total = total + _block_loss(block_hidden, weight, block_labels)
    if not total.requires_grad and torch.is_grad_enabled() and (hidden.requires_grad or weight.requires_grad):
        # no target at all in this micro-batch: keep every parameter in the graph (DDP/FSDP expect gradients)
        total = total + 0.0 * (hidden.sum() + weight.sum())
    return total, n_targets
