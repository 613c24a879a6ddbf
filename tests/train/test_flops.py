"""The MFU numerator the loop logs (StepFlops) against torch's FlopCounterMode on the tiny model, forward + backward.

FlopCounterMode counts matmuls (aten.mm / bmm) and fused attention kernels, with two differences from model FLOPs
that the test accounts for exactly instead of hiding them in a tolerance:
  * attention: the per-document causal SDPA call is counted as a full n x n product (FlopCounterMode ignores
    is_causal; and CPU's fused SDPA kernel is not in its registry at all, so the test runs SDPA's math backend, whose
    q k^T and a v are bmm's). Counted: 12 L d_attn sum n^2; the formula's causal pairs: 12 L d_attn sum n (n + 1) / 2
    = (counted + 12 L d_attn sum n) / 2.
  * dense: the block-wise loss recomputes each block's logits in backward (+2 V d T, hardware FLOPs, not model
    FLOPs), and the formula's N includes the RMSNorm weights, which multiply elementwise (not matmuls).
"""

import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from prolong.model.build import CausalLMWithLoss, build_model
from prolong.train.batching import make_micro_batch
from prolong.train.flops import StepFlops
from tests.helpers.train import CountingStream, tiny_params


def _counted(net, mb) -> dict[str, int]:
    counter = FlopCounterMode(display=False)
    with sdpa_kernel(SDPBackend.MATH), counter:
        loss_sum, _ = net(**mb.model_inputs("cpu"))
        loss_sum.backward()
    return {str(op): n for op, n in counter.get_flop_counts()["Global"].items()}


@pytest.mark.parametrize("keep_logits", [True, False])
def test_logged_flops_match_flop_counter_on_the_tiny_model(keep_logits, monkeypatch):
    """keep_logits False: the block loss recomputes each block's logits in backward (large rows, the paper)."""
    import prolong.model.loss as loss_module

    if not keep_logits:
        monkeypatch.setattr(loss_module, "KEEP_LOGITS_BYTES", 0)
    params = tiny_params()
    torch.manual_seed(0)
    lm = build_model(params.model)
    net = CausalLMWithLoss(lm, block_size=params.model.loss_block_size)
    stream = CountingStream(64, seed=1)
    mb = make_micro_batch([next(stream), next(stream)])  # 128 tokens, documents of several lengths
    T = mb.input_ids.numel()
    docs = torch.diff(mb.cu_seq_lens).long()
    assert len(docs) > 3

    counted = _counted(net, mb)
    assert set(counted) == {"aten.mm", "aten.bmm"}  # linear layers and lm_head; attention (math SDPA)
    flops = StepFlops.of(lm)
    cfg = lm.config
    L, d, V = cfg.num_hidden_layers, cfg.hidden_size, cfg.vocab_size

    # attention: the counter's full squares, halved to causal pairs, are the formula's attention term
    attention_term = flops(T, mb.attended_pairs) - flops(T, 0)
    assert counted["aten.bmm"] == 12 * L * flops.d_attn * int((docs ** 2).sum())
    assert 2 * attention_term == counted["aten.bmm"] + 12 * L * flops.d_attn * T

    # dense: every matmul parameter 6 times per token, plus the loss's logits recomputation in backward
    norm_params = sum(p.numel() for n, p in lm.named_parameters() if "norm" in n)
    assert norm_params == (2 * L + 1) * d
    recompute = 0 if keep_logits else 2 * V * d * T
    assert counted["aten.mm"] == 6 * (flops.n_params - norm_params) * T + recompute
    assert flops(T, 0) == 6 * flops.n_params * T

    # whole step: the logged numerator is the counted model FLOPs up to the norm weights (here 0.8% of N)
    model_flops = counted["aten.mm"] - recompute + attention_term
    assert flops(T, mb.attended_pairs) - model_flops == 6 * norm_params * T
