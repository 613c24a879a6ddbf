"""The mixture stream over token stores: proportions within one sequence of target, exact resume, rank split, clear
errors (the same stream serves SFT: tests/sft/test_sft_stream.py)."""

import json

import numpy as np
import pytest

from prolong.config import ConfigError
from prolong.data.config import MixtureConfig
from prolong.data.mixing import MixtureStream
from prolong.data.packing import PackedSequence
from prolong.data.tokenizer import TokenizerMismatchError

from tests.helpers.data import FAKE_TOK, OTHER_TOK, random_docs

PROPS = {"long": 0.37, "short_a": 0.33, "short_b": 0.2, "tiny": 0.1}


@pytest.fixture
def stores(make_store, monkeypatch, tmp_path):
    monkeypatch.setenv("PROLONG_DATA", str(tmp_path))
    rng = np.random.default_rng(0)
    make_store("long", random_docs(rng, 40, 50, 900, base=10), docs_per_shard=7)
    make_store("short", random_docs(rng, 300, 1, 60, base=200_000), docs_per_shard=64)
    return tmp_path


def mixture(props=PROPS, **domain_overrides):
    domains = {"long": {"store": "stores/long", "min_tokens": 100}, "short_a": {"store": "stores/short"},
               "short_b": {"store": "stores/short", "max_tokens": 30}, "tiny": {"store": "stores/short"}}
    domains.update(domain_overrides)
    return MixtureConfig.from_dict({"domains": domains, "mixture": [f"{k}@{v}" for k, v in props.items()]},
                                   "mix.yaml")


def same(a: PackedSequence, b: PackedSequence) -> bool:
    return (a.domain == b.domain and np.array_equal(a.input_ids, b.input_ids)
            and np.array_equal(a.doc_lens, b.doc_lens))


def test_proportions_within_one_sequence_at_every_step(stores):
    stream = MixtureStream.from_mixture(mixture(), seq_len=64, seed=1)
    counts = {d: 0 for d in PROPS}
    for n in range(1, 3001):
        counts[next(stream).domain] += 1
        for d, p in PROPS.items():
            assert abs(counts[d] - p * n) < 1.0, (n, d, counts[d], p * n)     # the stated tolerance
    assert stream.tokens_per_domain == {d: c * 64 for d, c in counts.items()}
    assert stream.state_dict()["counts"] == counts


def test_paper_like_proportions_within_tolerance(stores):
    props = {"long": 0.30, "short_a": 0.04, "short_b": 0.03, "tiny": 0.63}
    stream = MixtureStream.from_mixture(mixture(props), seq_len=32, seed=0)
    seqs = stream.take(5000)
    for d, p in props.items():
        share = sum(s.domain == d for s in seqs) / len(seqs)
        assert abs(share - p) < 1 / len(seqs)


def test_domain_stream_reproduces_documents(stores):
    """The sequences of one domain, concatenated, are its eligible documents with BOS/EOS, each once per epoch."""
    from prolong.data.token_store import TokenStore

    store = TokenStore.open(stores / "stores" / "long")
    eligible = [d for d in store.iter_docs() if len(d) >= 100]
    total = sum(len(d) + 2 for d in eligible)
    stream = MixtureStream.from_mixture(mixture({"long": 1.0}), seq_len=50, seed=3)
    seqs = stream.take(-(-total // 50))                            # just enough sequences for one epoch
    assert {s.domain for s in seqs} == {"long"}
    epoch = np.concatenate([s.input_ids for s in seqs])[:total]
    starts = np.flatnonzero(epoch == FAKE_TOK.bos_id)               # document tokens are >= 10: BOS is unambiguous
    pieces = np.split(epoch, starts[1:])
    assert len(pieces) == len(eligible)
    assert all(p[0] == FAKE_TOK.bos_id and p[-1] == FAKE_TOK.eos_id for p in pieces)
    assert sorted(tuple(p[1:-1].tolist()) for p in pieces) == sorted(tuple(d.tolist()) for d in eligible)
    # the next epoch is shuffled differently
    more = np.concatenate([s.input_ids for s in stream.take(-(-total // 50))])
    assert not np.array_equal(more[:200], epoch[:200])


def test_length_filters_of_a_domain(stores):
    stream = MixtureStream.from_mixture(mixture({"short_b": 1.0}), seq_len=40, seed=0)
    ids = np.concatenate([s.input_ids for s in stream.take(200)])
    for d in np.split(ids, np.flatnonzero(ids == FAKE_TOK.bos_id)[1:])[1:-1]:   # whole documents only
        assert d[0] == FAKE_TOK.bos_id and d[-1] == FAKE_TOK.eos_id and len(d) - 2 <= 30


def test_resume_after_kill_continues_exactly(stores):
    reference = MixtureStream.from_mixture(mixture(), seq_len=48, seed=7).take(400)
    first = MixtureStream.from_mixture(mixture(), seq_len=48, seed=7)
    first.take(137)
    state = json.loads(json.dumps(first.state_dict()))               # as saved in a checkpoint
    del first                                                       # "kill"
    resumed = MixtureStream.from_mixture(mixture(), seq_len=48, seed=7)
    resumed.load_state_dict(state)
    assert all(same(a, b) for a, b in zip(resumed.take(263), reference[137:]))
    assert sum(resumed.tokens_per_domain.values()) == 400 * 48


def test_seed_changes_order_and_state_checks(stores):
    a = MixtureStream.from_mixture(mixture(), seq_len=48, seed=0).take(20)
    b = MixtureStream.from_mixture(mixture(), seq_len=48, seed=1).take(20)
    assert not all(same(x, y) for x, y in zip(a, b))
    s = MixtureStream.from_mixture(mixture(), seq_len=48, seed=0)
    with pytest.raises(ValueError, match="seed"):
        s.load_state_dict(MixtureStream.from_mixture(mixture(), seq_len=48, seed=1).state_dict())


def test_dp_ranks_disjoint_and_sp_group_identical(stores):
    dp = 4
    glob = MixtureStream.from_mixture(mixture(), seq_len=64, seed=5).take(4 * 60)
    ranks = [MixtureStream.from_mixture(mixture(), seq_len=64, seed=5, dp_rank=r, dp_size=dp) for r in range(dp)]
    per_rank = [r.take(60) for r in ranks]
    for r in range(dp):
        assert all(same(x, glob[i * dp + r]) for i, x in enumerate(per_rank[r]))
    # disjoint: no (global index) is served twice, and the union is the whole global stream
    served = {(r, i) for r in range(dp) for i in range(60)}
    assert len(served) == len(glob)
    assert sum(not same(per_rank[0][i], per_rank[1][i]) for i in range(60)) > 50
    # the ranks of one sequence-parallel group pass the same dp_rank: same samples
    twin = MixtureStream.from_mixture(mixture(), seq_len=64, seed=5, dp_rank=2, dp_size=dp).take(60)
    assert all(same(x, y) for x, y in zip(twin, per_rank[2]))
    # the saved position is the same on every rank
    states = [{k: v for k, v in r.state_dict().items() if k != "tokens_per_domain"} for r in ranks]
    assert all(s == states[0] for s in states)


def test_errors(stores, make_store):
    with pytest.raises(ConfigError, match=r"mix.yaml: mixture: proportions sum to 0.9"):
        mixture({"long": 0.5, "short_a": 0.4})
    with pytest.raises(ConfigError, match=r"domain 'nope' is not defined under 'domains'"):
        mixture({"long": 0.5, "nope": 0.5})
    with pytest.raises(ConfigError, match=r"domain 'long' is empty: store .*stores/long has no document with "
                                          r"5000\.\.inf tokens"):
        MixtureStream.from_mixture(mixture({"long": 1.0}, long={"store": "stores/long", "min_tokens": 5000}), seq_len=8)
    with pytest.raises(FileNotFoundError, match=r"domains.long.store: .*stores/missing/store.json: token store "
                                                r"not found"):
        MixtureStream.from_mixture(mixture({"long": 1.0}, long={"store": "stores/missing"}), seq_len=8)
    with pytest.raises(TokenizerMismatchError, match=r"built with tokenizer 'fake'.*but tokenizer 'other'"):
        MixtureStream.from_mixture(mixture(), seq_len=8, tokenizer=OTHER_TOK)
    make_store("other", random_docs(np.random.default_rng(1), 5, 5, 9), tok=OTHER_TOK)
    with pytest.raises(TokenizerMismatchError, match=r"stores/other"):
        MixtureStream.from_mixture(mixture({"long": 0.5, "tiny": 0.5}, tiny={"store": "stores/other"}), seq_len=8)
    with pytest.raises(ValueError, match="dp_rank"):
        MixtureStream.from_mixture(mixture(), seq_len=8, dp_rank=2, dp_size=2)


def test_skip_is_k_plans(stores):
    """DocumentReader.skip(k) leaves the reader where k next_plan() calls would, across documents, shards and
    epochs, and at exact document ends (seq_len dividing documents)."""
    for seq_len in (64, 52, 1000):
        a = MixtureStream.from_mixture(mixture(), seq_len=seq_len, seed=3).readers
        b = MixtureStream.from_mixture(mixture(), seq_len=seq_len, seed=3).readers
        rng = np.random.default_rng(seq_len)
        for ra, rb in zip(a, b):
            for _ in range(40):
                k = int(rng.integers(0, 30))
                for _ in range(k):
                    ra.next_plan()
                rb.skip(k)
                assert ra.state() == rb.state()
                assert ra.next_plan() == rb.next_plan()


def test_ranks_plan_only_their_share_and_stay_identical(stores, monkeypatch):
    """With 8 and 64 ranks, every rank's samples are the global stream's, its saved state is every rank's, and it
    plans only its own sequences (the others are skipped); a resume from that state continues the same way."""
    from prolong.data.packing import DocumentReader

    glob = MixtureStream.from_mixture(mixture(), seq_len=64, seed=5).take(64 * 6)
    plans = {"n": 0}
    real = DocumentReader.next_plan

    def counting(self):
        plans["n"] += 1
        return real(self)

    monkeypatch.setattr(DocumentReader, "next_plan", counting)
    for dp in (8, 64):
        for r in (0, 3, dp - 1):
            s = MixtureStream.from_mixture(mixture(), seq_len=64, seed=5, dp_rank=r, dp_size=dp)
            plans["n"] = 0
            got = s.take(384 // dp - 1)
            assert plans["n"] == len(got)
            assert all(same(x, glob[i * dp + r]) for i, x in enumerate(got))
            resumed = MixtureStream.from_mixture(mixture(), seq_len=64, seed=5, dp_rank=r, dp_size=dp)
            resumed.load_state_dict(json.loads(json.dumps(s.state_dict())))
            assert same(next(resumed), glob[(384 // dp - 1) * dp + r]) and same(next(s), glob[(384 // dp - 1) * dp + r])
