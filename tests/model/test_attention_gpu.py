"""The CUDA kernels (flash-attn varlen, FlexAttention with a document block mask) against the per-document SDPA
reference: outputs and gradients, bf16. Skipped without CUDA (run them on a GPU machine: pytest -m requires_gpu)."""

import pytest
import torch

from prolong.model import cu_seqlens_from_doc_lens
from tests.helpers.markers import requires_gpu
from prolong.model.attention import _flash_varlen, _flex_document_attention, _sdpa_per_document, flash_attn_available

pytestmark = requires_gpu


def _qkv(lens, heads=8, kv_heads=2, hs=64):
    torch.manual_seed(0)
    T = sum(lens)
    make = lambda h: torch.randn(1, h, T, hs, device="cuda", dtype=torch.bfloat16, requires_grad=True)  # noqa: E731
    return make(heads), make(kv_heads), make(kv_heads)


def _reference(q, k, v, lens):
    cu = cu_seqlens_from_doc_lens(lens).tolist()
    out = _sdpa_per_document(q.float(), k.float(), v.float(), cu, None)  # (1, H, T, hs), fp32 reference
    return out.transpose(1, 2)  # (1, T, H, hs)


@pytest.mark.parametrize("lens", [[128, 1, 900, 37, 1982], [4096]])
def test_flex_matches_per_document(lens):
    q, k, v = _qkv(lens)
    cu = cu_seqlens_from_doc_lens(lens, device="cuda")
    out = _flex_document_attention(q, k, v, cu, None).transpose(1, 2)  # (1, T, H, hs)
    ref = _reference(q, k, v, lens)
    assert (out.float() - ref).abs().max().item() < 2e-2
    grad = torch.autograd.grad(out.float().square().sum(), (q, k, v))
    ref_grad = torch.autograd.grad(ref.square().sum(), (q, k, v))
    for g, r in zip(grad, ref_grad):
        assert (g.float() - r.float()).abs().max().item() < 5e-2 * max(1.0, r.float().abs().max().item())


def test_flex_mask_is_rebuilt_for_new_boundaries():
    """Two micro-batches of the same length with other document boundaries must not share a block mask."""
    a, b = [1000, 1048], [48, 2000]
    q, k, v = _qkv(a)
    out_a = _flex_document_attention(q, k, v, cu_seqlens_from_doc_lens(a, device="cuda"), None).transpose(1, 2)
    out_b = _flex_document_attention(q, k, v, cu_seqlens_from_doc_lens(b, device="cuda"), None).transpose(1, 2)
    assert (out_a.float() - _reference(q, k, v, a)).abs().max().item() < 2e-2
    assert (out_b.float() - _reference(q, k, v, b)).abs().max().item() < 2e-2


@pytest.mark.skipif(not flash_attn_available(), reason="flash-attn not installed")
def test_flash_varlen_matches_per_document():
    lens = [128, 1, 900, 37, 1982]
    q, k, v = _qkv(lens)
    cu = cu_seqlens_from_doc_lens(lens, device="cuda")
    out = _flash_varlen(q, k, v, cu, max(lens), None)  # (1, T, H, hs)
    assert (out.float() - _reference(q, k, v, lens)).abs().max().item() < 2e-2
