"""RoPE frequencies stay fp32 when the model is cast to bf16 (as FSDP's bf16 mixed precision casts buffers): the
rotary phases at the longest Stage-2 position equal the fp32 ones (tests/train/test_fsdp.py checks under FSDP)."""

import math

import torch

from prolong.model.build import ModelConfig, build_model
from prolong.model.rope import keep_rope_fp32

THETA, LAST = 1.28e8, 524_287        # Stage 2: theta and the last position of a 512K sequence
HEAD_DIM = 128                       # Llama-3-8B: 64 frequencies


def _model():
    # 2 heads of 128: Llama-3-8B's head dimension, so the same 64 frequencies
    return build_model(ModelConfig(hidden_size=256, intermediate_size=64, num_layers=1, num_heads=2, num_kv_heads=1,
                                   rope_theta=THETA, max_position_embeddings=LAST + 1), vocab_size=32)


def _phases(inv_freq):
    return LAST * inv_freq.double()


def test_bf16_cast_keeps_fp32_phases():
    exact = 1.0 / (THETA ** (torch.arange(0, HEAD_DIM, 2, dtype=torch.float64) / HEAD_DIM))
    fp32 = 1.0 / (THETA ** (torch.arange(0, HEAD_DIM, 2, dtype=torch.float32) / HEAD_DIM))   # transformers' formula
    # what the issue saw: frequencies rounded to bf16 are hundreds of radians off at the last position
    rounded = _phases(fp32.bfloat16()) - _phases(fp32)
    assert rounded.abs().max() > 100 and int((rounded.abs() > 1).sum()) >= 20

    lm = _model().to(torch.bfloat16)                 # casts every buffer, as FSDP's mixed precision does
    rot = lm.model.rotary_emb
    assert rot.inv_freq.dtype == torch.bfloat16      # the cast reached the buffer ...
    x = torch.zeros(1, 1, HEAD_DIM, dtype=torch.bfloat16)
    cos, sin = rot(x, torch.tensor([[0, LAST]]))      # ... and the forward puts the fp32 frequencies back
    assert rot.inv_freq.dtype == torch.float32 and torch.equal(rot.inv_freq, fp32)
    assert (_phases(rot.inv_freq) - _phases(exact)).abs().max() < 0.05   # fp32's own rounding only
    ref = _model()                                   # the fp32 model's cos/sin, cast the same way
    cos32, sin32 = ref.model.rotary_emb(x.float(), torch.tensor([[0, LAST]]))
    assert torch.equal(cos, cos32.bfloat16()) and torch.equal(sin, sin32.bfloat16())


def test_keep_rope_fp32_is_idempotent_and_counts_modules():
    lm = _model()
    assert keep_rope_fp32(lm) == 0                   # build_model installed it already
    assert math.isclose(float(lm.model.rotary_emb.inv_freq[1]), THETA ** (-2 / HEAD_DIM), rel_tol=1e-6)
