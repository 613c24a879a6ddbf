"""The block-wise cross entropy equals plain cross entropy over full logits (values and gradients)."""

import pytest
import torch
import torch.nn.functional as F

from prolong.model.loss import IGNORE_INDEX, block_cross_entropy


@pytest.mark.parametrize("block_size", [1, 7, 16, 1000])
def test_equals_plain_cross_entropy(block_size):
    torch.manual_seed(0)
    T, d, V = 50, 12, 33
    hidden = torch.randn(1, T, d, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(V, d, dtype=torch.float64, requires_grad=True)
    labels = torch.randint(0, V, (1, T))
    labels[0, ::4] = IGNORE_INDEX
    labels[0, 20:30] = IGNORE_INDEX  # a whole block without targets for small block sizes

    loss_sum, n = block_cross_entropy(hidden, weight, labels, block_size)
    loss_sum.backward()
    grads = hidden.grad.clone(), weight.grad.clone()
    hidden.grad = weight.grad = None

    ref = F.cross_entropy((hidden @ weight.t()).reshape(T, V), labels.reshape(T), ignore_index=IGNORE_INDEX,
                          reduction="sum")
    ref.backward()
    assert n.item() == int((labels != IGNORE_INDEX).sum())
    assert torch.allclose(loss_sum.double(), ref, rtol=1e-6)
    assert torch.allclose(grads[0], hidden.grad, atol=1e-6)
    assert torch.allclose(grads[1], weight.grad, atol=1e-6)


def test_no_targets_keeps_graph():
    hidden = torch.randn(1, 8, 4, requires_grad=True)
    weight = torch.randn(10, 4, requires_grad=True)
    loss, n = block_cross_entropy(hidden, weight, torch.full((1, 8), IGNORE_INDEX), 4)
    loss.backward()
    assert n.item() == 0 and loss.item() == 0.0
    assert weight.grad is not None and torch.count_nonzero(weight.grad) == 0


def test_bad_inputs():
    with pytest.raises(ValueError):
        block_cross_entropy(torch.randn(1, 4, 3), torch.randn(5, 3), torch.zeros(1, 5, dtype=torch.long), 2)
    with pytest.raises(ValueError):
        block_cross_entropy(torch.randn(1, 4, 3), torch.randn(5, 3), torch.zeros(1, 4, dtype=torch.long), 0)


def test_kept_and_recomputed_block_logits_give_the_same_bits(monkeypatch):
    """Small rows keep their logits for the backward, large ones recompute them per block (torch checkpoint):
    the same loss and gradients to the bit."""
    import prolong.model.loss as L

    g = torch.Generator().manual_seed(0)
    h0, w0 = torch.randn(1, 40, 8, generator=g), torch.randn(30, 8, generator=g)
    labels = torch.randint(0, 30, (1, 40), generator=g)
    labels[0, ::7] = IGNORE_INDEX
    results = []
    for keep in (L.KEEP_LOGITS_BYTES, 0):  # 40 x 30 x 4 bytes: kept, then recomputed
        monkeypatch.setattr(L, "KEEP_LOGITS_BYTES", keep)
        h, w = h0.clone().requires_grad_(), w0.clone().requires_grad_()
        loss, n = block_cross_entropy(h, w, labels, 16)
        loss.backward()
        results.append((loss.detach(), h.grad, w.grad))
    for a, b in zip(*results):
        assert torch.equal(a, b)
