"""Packing keeps documents exact and their boundaries known, in both modes."""

import numpy as np
import pytest

from prolong.data.packing import PackedSequence, SequencePacker, pack_documents

BOS, EOS = 1, 2


def _docs(seed=0, n=40, lo=1, hi=300):
    rng = np.random.default_rng(seed)
    return [rng.integers(10, 1000, size=int(rng.integers(lo, hi + 1))).astype(np.int32) for _ in range(n)]


def test_pretrain_reproduces_documents_and_boundaries():
    docs, L = _docs(), 128
    seqs = list(pack_documents(docs, L, BOS, EOS, mode="pretrain", domain="d"))
    stream = np.concatenate([np.concatenate([[BOS], d, [EOS]]) for d in docs])
    assert len(seqs) == len(stream) // L                      # only the last partial sequence is dropped
    got = np.concatenate([s.input_ids for s in seqs])
    np.testing.assert_array_equal(got, stream[:len(got)])
    # boundaries: every piece end is a document end or a sequence end, and pieces never span two documents
    doc_ends = set(np.cumsum([len(d) + 2 for d in docs]).tolist())
    pos = 0
    for s in seqs:
        assert s.input_ids.dtype == np.int32 and s.doc_lens.dtype == np.int32 and s.doc_lens.sum() == L
        assert s.loss_mask is None and s.domain == "d"
        for k, n in enumerate(s.doc_lens):
            pos += int(n)
            assert pos in doc_ends or k == len(s.doc_lens) - 1
    # a cut document continues as the first piece of the next sequence
    for a, b in zip(seqs, seqs[1:]):
        if a.input_ids[-1] != EOS:
            assert b.input_ids[0] != BOS


def test_sft_drops_the_tail_and_keeps_masks():
    docs, L = _docs(1, n=30, lo=5, hi=90), 100
    masks = [np.arange(len(d)) % 2 == 0 for d in docs]
    seqs = list(pack_documents(list(zip(docs, masks)), L, BOS, EOS, mode="sft"))
    assert seqs
    i = 0                                                     # walk the documents alongside the pieces
    for s in seqs:
        assert s.doc_lens.sum() == L and s.loss_mask.shape == (L,)
        pieces = s.documents()
        mask_pieces = np.split(s.loss_mask, np.cumsum(s.doc_lens)[:-1])
        for k, (piece, mpiece) in enumerate(zip(pieces, mask_pieces)):
            full = np.concatenate([[BOS], docs[i], [EOS]])
            fmask = np.concatenate([[False], masks[i], [masks[i][-1]]])
            if k < len(pieces) - 1:
                np.testing.assert_array_equal(piece, full)
            else:                                             # the last piece may be cut: its tail is dropped
                np.testing.assert_array_equal(piece, full[:len(piece)])
            np.testing.assert_array_equal(mpiece, fmask[:len(piece)])
            i += 1
        assert s.input_ids[0] == BOS                          # every SFT sequence starts with a whole document


def test_document_longer_than_sequence():
    doc = np.arange(10, 260, dtype=np.int32)                  # 250 tokens + BOS/EOS = 252
    pre = list(pack_documents([doc, doc], 100, BOS, EOS, mode="pretrain"))
    assert [s.doc_lens.tolist() for s in pre] == [[100], [100], [52, 48], [100], [100]]
    sft = list(pack_documents([doc, doc], 100, BOS, EOS, mode="sft"))
    assert [s.doc_lens.tolist() for s in sft] == [[100], [100]]
    np.testing.assert_array_equal(sft[0].input_ids, sft[1].input_ids)


def test_packer_rejects_bad_input():
    with pytest.raises(ValueError, match="mode"):
        SequencePacker(16, BOS, EOS, mode="chat")
    with pytest.raises(ValueError, match="loss_mask shape"):
        SequencePacker(16, BOS, EOS).add(np.arange(5), np.ones(4, bool))
    with pytest.raises(AssertionError, match="sum"):
        PackedSequence(np.zeros(4, np.int32), np.array([3], np.int32), None, "d")


def test_attention_cost():
    s = PackedSequence(np.zeros(10, np.int32), np.array([3, 7], np.int32), None, "d")
    assert s.attention_cost == 9 + 49
