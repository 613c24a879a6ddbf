"""Single-process pieces of sequence parallelism: sharding (label shift at chunk boundaries, position offsets,
padding, target counts), the fast-path decision, the GQA head mapping, the group layout and the epoch size."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest
import torch
from transformers import AttentionInterface

from prolong.model import sequence_parallel as sp
from prolong.model.attention import cu_seqlens_from_doc_lens, document_attention
from prolong.model.loss import IGNORE_INDEX
from prolong.train.batching import make_micro_batch


def _cat(shards, field):
    return torch.cat([getattr(s, field) for s in shards], dim=1)[0].tolist()


def test_label_shift_keeps_the_target_across_a_chunk_boundary():
    ids = np.arange(100, 112)  # 12 tokens, one document [3) + one [9) crossing the boundary at 6 (P=2)
    shards = [sp.shard_batch(ids, [3, 9], r, 2) for r in range(2)]
    first = shards[0].labels[0].tolist()
    assert first[-1] == 106  # token 5's target is token 6, the first token of the next chunk
    assert first[2] == IGNORE_INDEX  # last token of document 0: no target
    assert shards[1].labels[0].tolist()[-1] == IGNORE_INDEX  # end of the row
    assert _cat(shards, "labels") == [101, 102, -100, 104, 105, 106, 107, 108, 109, 110, 111, -100]
    assert [s.n_targets for s in shards] == [5, 5]


def test_position_ids_continue_a_document_into_the_next_chunk():
    shards = [sp.shard_batch(np.arange(12), [3, 9], r, 4) for r in range(4)]
    assert [s.position_ids[0].tolist() for s in shards] == [[0, 1, 2], [0, 1, 2], [3, 4, 5], [6, 7, 8]]
    assert all(torch.equal(s.cu_seq_lens, cu_seqlens_from_doc_lens([3, 9])) for s in shards)  # global boundaries
    assert [s.chunk for s in shards] == [(0, 3), (3, 6), (6, 9), (9, 12)]


def test_shard_batch_matches_sharding_the_loops_micro_batch():
    rng = np.random.default_rng(0)
    seqs = [SimpleNamespace(input_ids=rng.integers(0, 50, 16), doc_lens=np.array(lens), domain="x",
                            loss_mask=rng.random(16) > 0.4) for lens in ([5, 11], [16])]
    mb = make_micro_batch(seqs)
    ids = np.concatenate([s.input_ids for s in seqs])
    mask = np.concatenate([s.loss_mask for s in seqs])
    for P in (2, 4, 8):
        a = [sp.shard_micro_batch(mb, r, P) for r in range(P)]
        b = [sp.shard_batch(ids, [5, 11, 16], r, P, loss_mask=mask) for r in range(P)]
        for field in ("input_ids", "labels", "position_ids"):
            assert _cat(a, field) == _cat(b, field) == getattr(mb, field)[0].tolist()
        assert sum(s.n_targets for s in a) == mb.n_targets
        assert [s.attended_pairs for s in a] == [mb.attended_pairs] + [0] * (P - 1)  # counted once per group
        assert a[0].tokens_per_domain == {"x": 32} and a[1].tokens_per_domain == {}


def test_padding_to_a_multiple_of_the_degree():
    shards = [sp.shard_batch(np.arange(1, 11), [4, 6], r, 4) for r in range(4)]  # 10 tokens -> 12
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
    lays = [sp.sp_layout(r, 8, 4) for r in range(8)]
    assert [(x.dp_rank, x.sp_rank) for x in lays] == [(0, 0), (0, 1), (0, 2), (0, 3), (1, 0), (1, 1), (1, 2), (1, 3)]
    assert {x.dp_size for x in lays} == {2} and lays[5].sp_ranks == [4, 5, 6, 7]
    assert sp.sp_layout(3, 8, 1).dp_rank == 3 and sp.sp_layout(3, 8, 8).dp_size == 1
    with pytest.raises(ValueError, match="multiple"):
        sp.sp_layout(0, 6, 4)
    dp_rank, dp_size, sp_rank, sp_size, group = sp.init_sp_groups(1)  # no process group: a one-rank layout
    assert (dp_rank, dp_size, sp_rank, sp_size, group) == (0, 1, 0, 1, None)
    with pytest.raises(RuntimeError, match="process group"):
        sp.init_sp_groups(2)


def test_epoch_size_counts_samples_per_group_not_per_rank():
    n, batch, world, sp_size = 1000, 16, 8, 4
    dp_size = world // sp_size
    per_group = sp.samples_per_epoch(n, dp_size)
    assert per_group == 500
    # simulate: rank reads samples dp_rank, dp_rank + dp_size, ... (the stream's rank-aware split)
    read = {r: list(range(sp.sp_layout(r, world, sp_size).dp_rank, n, dp_size))[:per_group] for r in range(world)}
    assert read[0] == read[3] and read[0] != read[4]  # the ranks of one SP group read the same samples
    distinct = set().union(*map(set, read.values()))
    assert len(distinct) == n  # one epoch reads every sample once, not sp_size times
    assert sp.samples_per_epoch(n, world) * world == n  # per-rank counting: the 8x-too-many-samples bug's shape
    assert sp.sequences_per_group_per_step(batch, dp_size) == 8
    assert sp.samples_per_epoch(n, dp_size) // sp.sequences_per_group_per_step(batch, dp_size) == n // batch
    with pytest.raises(ValueError):
        sp.sequences_per_group_per_step(15, 2)


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
