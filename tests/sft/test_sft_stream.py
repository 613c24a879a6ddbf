"""The SFT stream (MixtureStream over ConversationReaders): token shares, exact resume, rank split, epochs."""

import numpy as np
import pytest

from prolong.sft.stream import sft_stream
from prolong.sft.template import EncodedSet
from prolong.sft.template import EncodedConversation

L = 128


def _set(n, lo, hi, seed):
    rng = np.random.default_rng(seed)
    convs = []
    for _ in range(n):
        k = int(rng.integers(lo, hi))
        m = rng.random(k) < 0.4
        m[-1] = True
        convs.append(EncodedConversation(rng.integers(10, 400, k).astype(np.int32), m))
    return EncodedSet.from_encoded(convs)


SOURCES = {"short": _set(300, 8, 50, 0), "synthetic_long": _set(40, 90, 128, 1)}


def _stream(p_long, **kw):
    props = {"short": 1 - p_long, "synthetic_long": p_long}
    return sft_stream(SOURCES, props, L, pad_id=2, **kw)


@pytest.mark.parametrize("p", [0.0, 0.01, 0.03, 0.10, 0.50])
def test_synthetic_share_of_tokens_is_realised(p):
    s = _stream(p)
    n = 400
    seqs = s.take(n)
    tokens = {d: sum(len(x.input_ids) for x in seqs if x.domain == d) for d in ("short", "synthetic_long")}
    share = tokens["synthetic_long"] / (n * L)
    assert abs(share - p) < 1 / n                    # within one sequence, at every prefix too
    for k in range(1, n + 1):
        c = sum(x.domain == "synthetic_long" for x in seqs[:k])
        assert abs(c - p * k) < 1
    assert s.tokens_per_domain == {d: v for d, v in tokens.items() if d in s.names}
    # every synthetic sequence carries long conversations; short ones pack several
    if p:
        assert all(len(x.doc_lens) <= 2 for x in seqs if x.domain == "synthetic_long")


def _same(a, b):
    return (a.domain == b.domain and np.array_equal(a.input_ids, b.input_ids)
            and np.array_equal(a.doc_lens, b.doc_lens) and np.array_equal(a.loss_mask, b.loss_mask))


def test_resume_from_state_dict_continues_exactly():
    import json

    ref = _stream(0.1, seed=3)
    full = ref.take(150)                             # crosses epochs of the long source
    s = _stream(0.1, seed=3)
    s.take(70)
    state = json.loads(json.dumps(s.state_dict()))   # JSON round trip, as in a checkpoint
    t = _stream(0.1, seed=3)
    t.load_state_dict(state)
    assert all(_same(a, b) for a, b in zip(full[70:], t.take(80)))
    assert t.tokens_per_domain == ref.tokens_per_domain
    with pytest.raises(ValueError, match="seed"):
        _stream(0.1, seed=4).load_state_dict(state)
    old = {**state, "kind": "sft", "sources": state["domains"]}     # a state of the former SFTStream
    del old["domains"]
    u = _stream(0.1, seed=3)
    u.load_state_dict(old)
    assert all(_same(a, b) for a, b in zip(full[70:], u.take(80)))


def test_data_parallel_ranks_are_disjoint_and_cover_the_stream():
    one = _stream(0.1, seed=0).take(60)
    r0, r1 = _stream(0.1, dp_rank=0, dp_size=2).take(30), _stream(0.1, dp_rank=1, dp_size=2).take(30)
    assert all(_same(a, b) for a, b in zip(one[0::2], r0)) and all(_same(a, b) for a, b in zip(one[1::2], r1))


def test_epochs_reshuffle_and_keep_conversations_whole():
    s = _stream(0.0)
    n_per_epoch = len(s.readers[0].plan().sequences)
    a, b = s.take(n_per_epoch), s.take(n_per_epoch)
    assert s.readers[0].epoch == 2
    assert not all(_same(x, y) for x, y in zip(a, b))
    assert all(len(x.input_ids) == L for x in a + b)
