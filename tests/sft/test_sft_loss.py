"""The SFT loss through the training loop's step equals a hand computation: the sum of per-token cross entropy over
the assistant tokens of the whole step (two micro-batches with unequal target counts) divided by their count."""

import numpy as np
import torch
import torch.nn.functional as F

from prolong.model.build import CausalLMWithLoss, ModelConfig, build_model, logits
from prolong.sft.packing import pack_conversations
from prolong.sft.template import encode_conversation
from prolong.train.batching import make_micro_batch
from prolong.train.distributed import setup_distributed
from prolong.train.loop import forward_backward

CONVS = [
    [{"role": "user", "content": "Where does Mira live?"}, {"role": "assistant", "content": "Mira lives in Ostrel."}],
    [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Her number?"},
     {"role": "assistant", "content": "4821."}, {"role": "user", "content": "Pet?"},
     {"role": "assistant", "content": "A parrot."}],
    [{"role": "user", "content": "Hello there, how are you today?"},
     {"role": "assistant", "content": "I am fine, thank you. Hello there, how are you today?"}],
    [{"role": "user", "content": "Which sentence follows?"}, {"role": "assistant", "content": "Answer: Ostrel."}],
]


def test_token_averaged_sft_loss_equals_hand_computation(tok):
    torch.manual_seed(0)
    encs = [encode_conversation(tok, c) for c in CONVS * 3]
    L = 64
    seqs, plan = pack_conversations(encs, L, tok.pad_token_id, lookahead=1)
    seqs, plan = seqs[:2], plan.sequences[:2]
    assert len(seqs) == 2
    mbs = [make_micro_batch([s]) for s in seqs]
    assert mbs[0].n_targets != mbs[1].n_targets and min(mb.n_targets for mb in mbs) > 0

    cfg = ModelConfig(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=4, num_kv_heads=2,
                      vocab_size=len(tok), max_position_embeddings=L, rope_theta=10000.0, loss_block_size=16)
    lm = build_model(cfg)
    acc = setup_distributed("fp32")
    net = CausalLMWithLoss(lm, block_size=16)
    out = forward_backward(acc, net, mbs)
    grads = {n: p.grad.clone() for n, p in net.named_parameters()}
    net.zero_grad()

    # by hand: each conversation alone (no packing), CE of token t+1 where t+1 is an assistant token
    total, count = torch.zeros((), dtype=torch.float64), 0
    for pieces in plan:
        for i, _n in pieces:
            ids = torch.from_numpy(encs[i].input_ids.astype(np.int64))[None]
            lg = logits(lm, ids, torch.arange(ids.shape[1])[None])[0]          # (n, V)
            tgt = torch.from_numpy(encs[i].loss_mask[1:])
            ce = F.cross_entropy(lg[:-1], ids[0, 1:], reduction="none")
            total = total + ce[tgt].double().sum()
            count += int(tgt.sum())
    assert out["n_targets"] == count == sum(int(s.loss_mask[1:].sum()) for s in seqs)
    hand = total / count
    assert abs(out["loss"] - hand.item()) < 1e-5
    hand.backward()
    for n, p in net.named_parameters():
        assert torch.allclose(grads[n], p.grad.to(grads[n].dtype), atol=1e-6), n
