"""SFT packing: whole conversations, one padding piece, the tail dropped; the reader the SFT stream uses."""

import numpy as np
import pytest

from prolong.sft.packing import ConversationReader, pack_conversations, plan_packing
from prolong.sft.template import EncodedSet
from prolong.sft.template import EncodedConversation

PAD = 2


def _convs(n, seed=0, lo=5, hi=60):
    rng = np.random.default_rng(seed)
    out = []
    for i in range(n):
        k = int(rng.integers(lo, hi))
        ids = rng.integers(10, 400, k).astype(np.int32)
        mask = rng.random(k) < 0.5
        mask[-1] = True
        out.append(EncodedConversation(ids, mask))
    return out


@pytest.mark.parametrize("lookahead", [1, 8])
def test_every_conversation_stays_whole_and_the_tail_is_dropped(lookahead):
    convs, L = _convs(200), 128
    seqs, plan = pack_conversations(convs, L, PAD, "chat", lookahead=lookahead)
    seen = []
    for seq, pieces in zip(seqs, plan.sequences):
        assert len(seq.input_ids) == L and seq.doc_lens.sum() == L and seq.domain == "chat"
        pos = 0
        for (i, n), d in zip(pieces, seq.doc_lens):          # unpack and compare with the originals
            assert n == d == len(convs[i])
            assert np.array_equal(seq.input_ids[pos:pos + n], convs[i].input_ids)
            assert np.array_equal(seq.loss_mask[pos:pos + n], convs[i].loss_mask)
            pos += n
            seen.append(i)
        pad = L - pos
        assert len(seq.doc_lens) == len(pieces) + (pad > 0)   # padding: one piece, no targets
        assert (seq.input_ids[pos:] == PAD).all() and not seq.loss_mask[pos:].any()
    st = plan.stats
    assert len(set(seen)) == len(seen) == st.n_packed
    dropped = set(range(200)) - set(seen)
    assert len(dropped) == st.n_dropped_tail > 0              # the unfinished last sequence is dropped, not padded
    assert sum(len(convs[i]) for i in dropped) < L
    assert st.conversation_tokens + st.padding_tokens == len(seqs) * L


def test_first_fit_lookahead_reduces_padding():
    convs = _convs(400, seed=1, lo=5, hi=120)
    greedy = plan_packing([len(c) for c in convs], 256, lookahead=1).stats.padding_tokens
    ff = plan_packing([len(c) for c in convs], 256, lookahead=16).stats.padding_tokens
    assert ff < greedy


def test_overlong_conversations_are_truncated_or_skipped_and_counted():
    convs = _convs(30, lo=5, hi=30) + [EncodedConversation(np.arange(100, 200, dtype=np.int32),
                                                           np.ones(100, bool))]
    order = [30] + list(range(30))
    seqs, plan = pack_conversations(convs, 64, PAD, order=order, overlong="truncate")
    assert plan.stats.n_truncated == 1 and plan.sequences[0] == [(30, 64)]
    assert np.array_equal(seqs[0].input_ids, np.arange(100, 164))
    _, plan = pack_conversations(convs, 64, PAD, order=order, overlong="skip")
    assert plan.stats.n_skipped_overlong == 1 and all(i != 30 for s in plan.sequences for i, _ in s)
    # truncated to nothing to learn: skipped
    late = EncodedConversation(np.arange(100, 200, dtype=np.int32), np.arange(100) >= 90)
    _, plan = pack_conversations(convs[:30] + [late], 64, PAD, order=order)
    assert plan.stats.n_skipped_overlong == 1 and plan.stats.n_truncated == 0


def test_reader_walks_shuffled_epochs_of_whole_conversations():
    convs, L = _convs(120, seed=2), 128
    data = EncodedSet.from_encoded(convs)
    reader = ConversationReader("chat", data, L, PAD, seed=5, lookahead=4)
    per_epoch = len(reader.plan().sequences)
    seqs = [reader.materialize(reader.next_plan()) for _ in range(2 * per_epoch)]
    assert reader.epoch == 2 and reader.pos == 0
    originals = {tuple(c.input_ids.tolist()) for c in convs}
    for epoch in (seqs[:per_epoch], seqs[per_epoch:]):
        seen = []
        for s in epoch:
            assert len(s.input_ids) == L and s.domain == "chat"
            pieces = np.split(s.input_ids, np.cumsum(s.doc_lens)[:-1])
            seen += [tuple(p.tolist()) for p in pieces if tuple(p.tolist()) in originals]
        assert len(seen) == len(set(seen)) > 100                     # each conversation at most once per epoch
    assert not all(np.array_equal(a.input_ids, b.input_ids) for a, b in zip(seqs[:per_epoch], seqs[per_epoch:]))
    # resume: (epoch, pos) is the whole state
    again = ConversationReader("chat", data, L, PAD, seed=5, lookahead=4)
    again.load({"epoch": 1, "pos": 3})
    assert np.array_equal(again.materialize(again.next_plan()).input_ids, seqs[per_epoch + 3].input_ids)


def test_reader_refuses_a_source_that_fills_no_sequence():
    with pytest.raises(ValueError, match="do not fill one sequence"):
        ConversationReader("few", EncodedSet.from_encoded(_convs(2, lo=5, hi=10)), 128, PAD)
