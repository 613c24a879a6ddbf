"""Pretraining packing (DocumentReader): documents stay exact, boundaries are known, a cut tail starts the next
sequence, filters and resume."""

import numpy as np
import pytest

from prolong.data.packing import DocumentReader, PackedSequence
from prolong.data.token_store import TokenStore

from tests.helpers.data import FAKE_TOK, random_docs

BOS, EOS = FAKE_TOK.bos_id, FAKE_TOK.eos_id


def _reader(path, seq_len, **kw):
    return DocumentReader("d", TokenStore.open(path), seq_len, BOS, EOS, **kw)


def _take(reader, n):
    return [reader.materialize(reader.next_plan()) for _ in range(n)]


def _pieces(seq):
    return np.split(seq.input_ids, np.cumsum(seq.doc_lens)[:-1])


def test_one_epoch_reproduces_documents_and_boundaries(make_store):
    docs = random_docs(np.random.default_rng(0), 60, 1, 300)
    L = 128
    reader = _reader(make_store("s", docs, docs_per_shard=16), L, seed=1)
    total = sum(len(d) + 2 for d in docs)
    seqs = _take(reader, -(-total // L))                        # just enough sequences for one epoch
    stream = np.concatenate([s.input_ids for s in seqs])[:total]
    for s in seqs:
        assert s.input_ids.dtype == np.int32 and s.doc_lens.dtype == np.int32 and s.doc_lens.sum() == L
        assert s.loss_mask is None and s.domain == "d"
    # document tokens are >= 10, so BOS marks every document start; each document appears once, whole
    starts = np.flatnonzero(stream == BOS)
    whole = np.split(stream, starts[1:])
    assert all(p[0] == BOS and p[-1] == EOS for p in whole)
    assert sorted(tuple(p[1:-1].tolist()) for p in whole) == sorted(tuple(d.tolist()) for d in docs)
    # pieces never span two documents; a cut document continues as the first piece of the next sequence
    for a, b in zip(seqs, seqs[1:]):
        assert all((p[1:] != BOS).all() for p in _pieces(a))
        if a.input_ids[-1] != EOS:
            assert b.input_ids[0] != BOS


def test_document_longer_than_sequence_continues_in_pieces(make_store):
    doc = np.arange(10, 260, dtype=np.uint32)                   # 250 tokens + BOS/EOS = 252
    reader = _reader(make_store("s", [doc, doc]), 100)
    assert [s.doc_lens.tolist() for s in _take(reader, 5)] == [[100], [100], [52, 48], [100], [100]]


def test_length_filters(make_store):
    docs = random_docs(np.random.default_rng(2), 80, 1, 120)
    path = make_store("s", docs, docs_per_shard=20)
    reader = _reader(path, 40, min_tokens=20, max_tokens=60)
    assert reader.n_docs == sum(20 <= len(d) <= 60 for d in docs)
    stream = np.concatenate([s.input_ids for s in _take(reader, 200)])
    for p in np.split(stream, np.flatnonzero(stream == BOS)[1:])[:-1]:
        assert 20 <= len(p) - 2 <= 60


def test_state_resumes_exactly(make_store):
    path = make_store("s", random_docs(np.random.default_rng(3), 50, 1, 200), docs_per_shard=9)
    ref = _take(_reader(path, 64, seed=4), 150)                 # crosses an epoch
    first = _reader(path, 64, seed=4)
    _take(first, 77)
    resumed = _reader(path, 64, seed=4)
    resumed.load(first.state())
    for a, b in zip(_take(resumed, 73), ref[77:]):
        assert np.array_equal(a.input_ids, b.input_ids) and np.array_equal(a.doc_lens, b.doc_lens)


def test_packed_sequence_checks_doc_lens():
    with pytest.raises(AssertionError, match="sum"):
        PackedSequence(np.zeros(4, np.int32), np.array([3], np.int32), None, "d")
