"""The LR schedule, labels / positions of packed sequences, and the FLOPs formula."""

import math

import numpy as np
import pytest

from prolong.data.packing import PackedSequence
from prolong.model.loss import IGNORE_INDEX
from prolong.train.batching import attended_pairs, labels_for, make_micro_batch, order_by_attention_cost
from prolong.train.config import OptimConfig, lr_at, warmup_steps


def test_schedule_warmup_then_cosine_to_floor():
    o = OptimConfig(lr=1e-5, warmup_fraction=0.1, min_lr_ratio=0.1)
    lrs = [lr_at(s, o, 100) for s in range(100)]
    assert warmup_steps(o, 100) == 10
    assert lrs[0] == pytest.approx(1e-6) and lrs[9] == pytest.approx(1e-5)
    assert all(a < b for a, b in zip(lrs[:10], lrs[1:10]))          # rising during warmup
    assert all(a >= b for a, b in zip(lrs[10:], lrs[11:]))           # then never rising
    assert lrs[10] == pytest.approx(1e-5) and lrs[-1] == pytest.approx(1e-6)
    assert lrs[55] == pytest.approx(1e-6 + 0.5 * 9e-6 * (1 + math.cos(math.pi * 45 / 89)))


def _seq(ids, lens, mask=None):
    return PackedSequence(np.asarray(ids, np.int32), np.asarray(lens, np.int32), mask, "d")


def test_labels_stay_inside_documents():
    s = _seq([1, 2, 3, 4, 5, 6], [3, 3])
    assert labels_for(s).tolist() == [2, 3, IGNORE_INDEX, 5, 6, IGNORE_INDEX]
    assert labels_for(s, doc_masking=False).tolist() == [2, 3, 4, 5, 6, IGNORE_INDEX]
    masked = _seq([1, 2, 3, 4], [4], np.array([False, False, True, True]))
    assert labels_for(masked).tolist() == [IGNORE_INDEX, 3, 4, IGNORE_INDEX]


def test_micro_batch_concatenates_sequences():
    mb = make_micro_batch([_seq([1, 2, 3, 4], [1, 3]), _seq([5, 6, 7, 8], [4])])
    assert mb.input_ids.tolist() == [[1, 2, 3, 4, 5, 6, 7, 8]]
    assert mb.position_ids.tolist() == [[0, 0, 1, 2, 0, 1, 2, 3]]
    assert mb.cu_seq_lens.tolist() == [0, 1, 4, 8]
    assert mb.max_length == 4 and mb.n_targets == 5
    assert mb.attended_pairs == 1 + 6 + 10
    plain = make_micro_batch([_seq([1, 2, 3, 4], [1, 3]), _seq([5, 6, 7, 8], [4])], doc_masking=False)
    assert plain.position_ids.tolist() == [[0, 1, 2, 3, 0, 1, 2, 3]]  # positions restart per sequence only
    assert plain.cu_seq_lens.tolist() == [0, 4, 8] and plain.n_targets == 6


def test_micro_batches_are_ordered_by_attended_pairs_most_first():
    def seq(lens):
        return PackedSequence(np.zeros(sum(lens), np.int64), np.asarray(lens), None, "x")

    groups = [[seq([4, 4, 4, 4])], [seq([16])], [seq([8, 8])], [seq([8, 8])]]
    ordered = order_by_attention_cost(groups)
    assert [g[0].doc_lens.tolist() for g in ordered] == [[16], [8, 8], [8, 8], [4, 4, 4, 4]]
    assert ordered[1] is groups[2] and ordered[2] is groups[3]  # stable
    assert attended_pairs([16]) == 136 == make_micro_batch(groups[1]).attended_pairs
