"""Single-process pieces of sequence parallelism: sharding (label shift at chunk boundaries, position offsets,
padding, target counts), the fast-path decision, the GQA head mapping and the group layout."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from transformers import AttentionInterface

from prolong.data.packing import PackedSequence
from prolong.model import ulysses as sp
from prolong.model.attention import cu_seqlens_from_doc_lens, document_attention
from prolong.model.loss import IGNORE_INDEX
from prolong.train.batching import make_micro_batch
from prolong.train.parallelize import init_layout, layout_of


def _cat(shards, field):
    return torch.cat([getattr(s, field) for s in shards], dim=1)[0].tolist()


def _shards(ids, doc_lens, P, loss_mask=None):
    """Every rank's chunk of a micro-batch of one packed row, as the loop cuts it."""
    seq = PackedSequence(np.asarray(ids, np.int64), np.asarray(doc_lens, np.int64), loss_mask, "x")
    mb = make_micro_batch([seq])
    return [mb.shard(r, P) for r in range(P)]


def test_label_shift_keeps_the_target_across_a_chunk_boundary():
    ids = np.arange(100, 112)  # 12 tokens, one document [3) + one [9) crossing the boundary at 6 (P=2)
    shards = _shards(ids, [3, 9], 2)
    first = shards[0].labels[0].tolist()
    assert first[-1] == 106  # token 5's target is token 6, the first token of the next chunk
    assert first[2] == IGNORE_INDEX  # last token of document 0: no target
    assert shards[1].labels[0].tolist()[-1] == IGNORE_INDEX  # end of the row
    assert _cat(shards, "labels") == [101, 102, -100, 104, 105, 106, 107, 108, 109, 110, 111, -100]
    assert [s.n_targets for s in shards] == [5, 5]


def test_position_ids_continue_a_document_into_the_next_chunk():
    shards = _shards(np.arange(12), [3, 9], 4)
    assert [s.position_ids[0].tolist() for s in shards] == [[0, 1, 2], [0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert all(torch.equal(s.cu_seq_lens, cu_seqlens_from_doc_lens([3, 9])) for s in shards)  # global boundaries
    assert [s.chunk for s in shards] == [(0, 3), (3, 6), (6, 9), (9, 12)]


def test_chunks_of_a_micro_batch_add_up_to_it():
    rng = np.random.default_rng(0)
    seqs = [SimpleNamespace(input_ids=rng.integers(0, 50, 16), doc_lens=np.array(lens), domain="x",
                            loss_mask=rng.random(16) > 0.4) for lens in ([5, 11], [16])]
    mb = make_micro_batch(seqs)
    assert mb.shard(0, 1) is mb and not mb.needs_all_to_all
    for P in (2, 4, 8):
        a = [mb.shard(r, P) for r in range(P)]
        for field in ("input_ids", "labels", "position_ids"):
            assert _cat(a, field) == getattr(mb, field)[0].tolist()
        assert sum(s.n_targets for s in a) == mb.n_targets
        assert [s.attended_pairs for s in a] == [mb.attended_pairs] + [0] * (P - 1)  # counted once per group
        assert {s.needs_all_to_all for s in a} == {P != 2}  # cu 0, 5, 16, 32: only the midpoint is a boundary
    with pytest.raises(ValueError, match="already a chunk"):
        a[0].shard(0, 2)


def test_padding_to_a_multiple_of_the_degree():
    shards = _shards(np.arange(1, 11), [4, 6], 4)  # 10 tokens -> 12
    assert {s.n_pad for s in shards} == {2} and {s.seq_len for s in shards} == {12}
    assert shards[0].cu_seq_lens.tolist() == [0, 4, 10, 12]  # padding is a document of its own
    assert _cat(shards, "labels")[-3:] == [IGNORE_INDEX] * 3  # end of a document + two padding tokens
    assert sum(s.n_targets for s in shards) == 3 + 5
    keys = {"input_ids", "position_ids", "labels", "cu_seq_lens", "max_length"}
    assert set(shards[0].model_inputs("cpu").keys()) == keys


def test_fast_path_decision_is_about_boundaries_not_lengths():
    # every document shorter than a chunk (8), yet [6, 12) straddles the boundary at 8: the public release's
    # "all documents fit" test would skip the all-to-all here and cut that document
    assert sp.needs_all_to_all([0, 6, 12, 16], 16, 2)
    assert [s.needs_all_to_all for s in _shards(np.arange(16), [3, 5, 8], 2)] == [False, False]
    assert not sp.needs_all_to_all([0, 3, 8, 16], 16, 2)
    assert not sp.needs_all_to_all([0, 16], 16, 1)
    assert sp.needs_all_to_all([0, 4, 8, 16], 16, 4)  # boundary 12 is inside a document
    assert sp.local_cu_seqlens([0, 3, 8, 11, 16], 8, 16) == [0, 3, 8]
    assert sp.local_cu_seqlens([0, 6, 16], 8, 16) == [0, 8]


def test_gqa_repeat_gives_each_rank_the_kv_heads_of_its_queries():
    H, Hkv, P = 4, 2, 4
    key = torch.arange(Hkv, dtype=torch.float32).view(1, Hkv, 1, 1)
    rep = sp.repeat_kv_for_sp(key, H, P)[0, :, 0, 0]
    n_rep = H // Hkv
    for r in range(P):
        heads = range(r * H // P, (r + 1) * H // P)
        kv_per_rank = rep.shape[0] // P
        got = rep[r * kv_per_rank:(r + 1) * kv_per_rank].tolist()
        assert set(got) == {h // n_rep for h in heads}
    assert sp.repeat_kv_for_sp(torch.zeros(1, 8, 2, 4), 32, 8).shape[1] == 8  # Llama-3-8B at degree 8: no repeat
    assert sp.repeat_kv_for_sp(torch.zeros(1, 8, 2, 4), 32, 16).shape[1] == 16
    with pytest.raises(ValueError, match="divide"):
        sp.repeat_kv_for_sp(torch.zeros(1, 3, 2, 4), 6, 2)
    with pytest.raises(ValueError, match="query heads"):
        sp.repeat_kv_for_sp(torch.zeros(1, 2, 2, 4), 6, 4)


def test_group_layout():
    lays = [layout_of(r, 8, 4) for r in range(8)]
    assert [(x.dp_rank, x.sp_rank) for x in lays] == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1), (1, 2), (1, 3)]
    assert {x.dp_size for x in lays} == {2} and lays[5].sp_ranks == [4, 5, 6, 7]
    assert layout_of(3, 8, 1).dp_rank == 3 and layout_of(3, 8, 8).dp_size == 1
    with pytest.raises(ValueError, match="multiple"):
        layout_of(0, 6, 4)
    one = init_layout(1)  # no process group: a one-rank layout
    assert (one.dp_rank, one.dp_size, one.sp_rank, one.sp_size, one.sp_group) == (0, 1, 0, 1, None)
    with pytest.raises(RuntimeError, match="process group"):
        init_layout(2)


def test_the_ranks_of_a_group_read_the_same_sequences_and_a_step_splits_over_groups():
    n, batch, world, sp_size = 1000, 16, 8, 4
    lays = [layout_of(r, world, sp_size) for r in range(world)]
    # the loop gives every rank the stream of its dp_rank: sequences dp_rank, dp_rank + dp_size, ...
    read = {r: list(range(lay.dp_rank, n, lay.dp_size)) for r, lay in enumerate(lays)}
    assert read[0] == read[3] and read[0] != read[4]  # the ranks of one SP group read the same sequences
    assert len(set().union(*map(set, read.values()))) == n  # one pass reads every sequence once, not sp_size times
    assert lays[0].micro_batches_per_step(batch, 2) == 4  # 16 sequences / 2 groups / micro-batches of 2
    with pytest.raises(ValueError, match="does not split"):
        lays[0].micro_batches_per_step(15, 1)
    with pytest.raises(ValueError, match="does not split"):
        lays[0].micro_batches_per_step(16, 3)


def test_wrapper_is_registered_and_plain_without_a_group():
    assert sp.SP_ATTN_IMPLEMENTATION in AttentionInterface._global_mapping
    assert sp.sequence_parallel_group() is None
    module = SimpleNamespace(config=SimpleNamespace(prolong_attn_backend="sdpa"))
    g = torch.Generator().manual_seed(0)
    q, k, v = torch.randn(1, 4, 10, 8, generator=g), torch.randn(1, 2, 10, 8, generator=g), torch.randn(1, 2, 10, 8,
                                                                                                          generator=g)
    cu = cu_seqlens_from_doc_lens([4, 6])
    a, _ = sp.sp_document_attention(module, q, k, v, None, cu_seq_lens_q=cu, cu_seq_lens_k=cu)
    b, _ = document_attention(module, q, k, v, None, cu_seq_lens_q=cu, cu_seq_lens_k=cu)
    assert torch.equal(a, b)
    with sp.sequence_parallel(None):
        assert sp.sequence_parallel_group() is None


def test_communication_formula():
    b = sp.a2a_bytes_per_layer(524_288, 32, 8, 128, 8, bytes_per_elem=2)  # Llama-3-8B at 512K, degree 8, bf16
    assert b["forward"] == b["backward"] == 7 * 65_536 * 128 * (2 * 32 + 2 * 8) * 2 // 8
    assert sp.a2a_bytes_per_layer(1024, 4, 2, 8, 1)["forward"] == 0
