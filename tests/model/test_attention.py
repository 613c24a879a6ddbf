"""Document-masked attention (CPU per-document path) against running each document alone."""

import pytest
import torch

from prolong.model import ModelConfig, build_model, cu_seqlens_from_doc_lens, position_ids_from_doc_lens
from prolong.model.attention import document_attention, pick_backend
from prolong.model.build import logits

CFG = ModelConfig(hidden_size=64, intermediate_size=128, num_layers=4, num_heads=4, num_kv_heads=2, vocab_size=97,
                  max_position_embeddings=256, rope_theta=1e4)


@pytest.fixture(scope="module")
def models():
    torch.manual_seed(0)
    packed = build_model(CFG).eval()
    # the reference: the same weights with transformers' own SDPA attention, run on one document at a time
    reference = build_model(CFG).eval()
    reference.load_state_dict(packed.state_dict())
    reference.set_attn_implementation("sdpa")
    return packed, reference


def test_helpers():
    assert cu_seqlens_from_doc_lens([3, 2, 4]).tolist() == [0, 3, 5, 9]
    assert cu_seqlens_from_doc_lens([3, 2]).dtype == torch.int32
    assert position_ids_from_doc_lens([3, 2, 1]).tolist() == [0, 1, 2, 0, 1, 0]
    with pytest.raises(ValueError):
        cu_seqlens_from_doc_lens([3, 0])


@torch.no_grad()
def test_packed_equals_each_document_alone(models):
    packed, reference = models
    lens = [17, 1, 40, 5, 33]
    ids = torch.randint(0, CFG.vocab_size, (1, sum(lens)))
    pos = torch.as_tensor(position_ids_from_doc_lens(lens))[None]
    out = logits(packed, ids, pos, cu_seqlens_from_doc_lens(lens), max(lens))  # (1, T, V)
    pieces, start = [], 0
    for n in lens:
        pieces.append(reference(input_ids=ids[:, start:start + n]).logits)
        start += n
    expected = torch.cat(pieces, dim=1)
    assert out.shape == expected.shape
    assert (out - expected).abs().max().item() < 1e-5


@torch.no_grad()
def test_packing_changes_nothing_but_without_masks_documents_interact(models):
    """Sanity: the same tokens as one document (no document masks) give other logits than with masks."""
    packed, reference = models
    lens = [20, 30]
    ids = torch.randint(0, CFG.vocab_size, (1, 50))
    masked = logits(packed, ids, torch.as_tensor(position_ids_from_doc_lens(lens))[None],
                    cu_seqlens_from_doc_lens(lens), 30)
    plain = logits(packed, ids, torch.arange(50)[None])  # no cu_seq_lens: causal over the whole row
    assert torch.allclose(plain, reference(input_ids=ids).logits, atol=1e-5)
    assert torch.allclose(masked[:, :20], plain[:, :20], atol=1e-5)  # the first document sees the same context
    assert (masked[:, 20:] - plain[:, 20:]).abs().max() > 1e-3       # the second no longer sees the first


def test_gradients_match_per_document():
    torch.manual_seed(1)
    q = torch.randn(1, 4, 30, 8, requires_grad=True)
    k = torch.randn(1, 2, 30, 8, requires_grad=True)
    v = torch.randn(1, 2, 30, 8, requires_grad=True)
    module = torch.nn.Module()
    module.config = type("C", (), {"prolong_attn_backend": "sdpa"})()
    lens = [10, 5, 15]
    out, _ = document_attention(module, q, k, v, None, scaling=8 ** -0.5,
                                cu_seq_lens_q=cu_seqlens_from_doc_lens(lens))  # (1, T, H, hs)
    out.square().sum().backward()
    grads = [t.grad.clone() for t in (q, k, v)]
    for t in (q, k, v):
        t.grad = None
    ref, s = [], 0
    for n in lens:
        kk = k[:, :, s:s + n].repeat_interleave(2, dim=1)
        vv = v[:, :, s:s + n].repeat_interleave(2, dim=1)
        ref.append(torch.nn.functional.scaled_dot_product_attention(q[:, :, s:s + n], kk, vv, is_causal=True))
        s += n
    torch.cat(ref, dim=2).transpose(1, 2).square().sum().backward()
    assert torch.allclose(out, torch.cat(ref, 2).transpose(1, 2).detach(), atol=1e-6)
    for g, t in zip(grads, (q, k, v)):
        assert torch.allclose(g, t.grad, atol=1e-5)


def test_backend_choice():
    assert pick_backend("auto", torch.device("cpu"), torch.float32) == "sdpa"
    with pytest.raises(ValueError, match="needs CUDA"):
        pick_backend("flex", torch.device("cpu"), torch.float32)
    with pytest.raises(ValueError, match="unknown"):
        pick_backend("dense", torch.device("cpu"), torch.float32)


def test_batch_of_rows_refused(models):
    packed, _ = models
    q = torch.randn(2, 4, 6, 16)
    k = torch.randn(2, 2, 6, 16)
    with pytest.raises(ValueError, match="one row"):
        document_attention(packed.model.layers[0].self_attn, q, k, k, None,
                           cu_seq_lens_q=cu_seqlens_from_doc_lens([3, 3]))


def test_chunk_causal_attention_equals_masked_sdpa():
    """A chunk of queries against its cache (lower-right causal), the GQA grouping and the log-sum-exp merge of the
    past and own keys: equal to SDPA with the materialised mask and repeated kv heads."""
    import torch.nn.functional as F

    from prolong.model.cached_attention import chunk_causal_attention

    g = torch.Generator().manual_seed(0)
    for H, Hkv, n_q, S in [(4, 2, 5, 17), (4, 4, 5, 5), (6, 2, 1, 9), (4, 1, 7, 7), (8, 2, 3, 40), (2, 2, 1, 1)]:
        q = torch.randn(2, H, n_q, 16, generator=g)
        k, v = torch.randn(2, Hkv, S, 16, generator=g), torch.randn(2, Hkv, S, 16, generator=g)
        mask = torch.ones(n_q, S, dtype=torch.bool).tril(S - n_q)
        ref = F.scaled_dot_product_attention(q, k.repeat_interleave(H // Hkv, 1), v.repeat_interleave(H // Hkv, 1),
                                             attn_mask=mask)
        torch.testing.assert_close(chunk_causal_attention(q, k, v), ref, atol=1e-6, rtol=1e-5)
