"""Sequence parallelism in 2 and 4 gloo processes equals the single-process run: attention outputs and gradients,
model logits, loss and parameter gradients, with documents crossing chunk boundaries, the fast path, GQA with more
ranks than KV heads, padding, gradient checkpointing, the all_gather transport and a dp 2 x sp 2 step."""

from __future__ import annotations

import pytest

from tests.helpers.markers import integration
from tests.helpers.sp_workers import run_workers

pytestmark = integration
TOL = 1e-5
_cache: dict[int, dict] = {}


def results(world: int) -> dict:
    if world not in _cache:
        _cache[world] = run_workers(world)
    return _cache[world]


def case(world: int, name: str) -> dict:
    res = results(world)
    assert name in res, f"case {name} did not run at world {world}: {sorted(res)}"
    assert "error" not in res[name], res[name]["error"]
    return res[name]


ATTN = [f"attn_h{h}kv{kv}_{d}" for h, kv in ((4, 2), (4, 4), (8, 2))
        for d in ("crossing", "short_straddling", "aligned")] + ["attn_h4kv2_crossing_allgather"]


@pytest.mark.parametrize("world", [2, 4])
@pytest.mark.parametrize("name", ATTN)
def test_attention_matches_single_process(world, name):
    r = case(world, name)
    for key in ("out", "dq", "dk", "dv"):
        assert r[key] < TOL, (key, r)
    if name.endswith("aligned"):
        assert not r["needs_all_to_all"] and r["a2a_forward_calls"] == 0 and r["a2a_backward_calls"] == 0, r
    else:
        assert r["needs_all_to_all"], r
        assert r["a2a_forward_calls"] == 4 and r["a2a_backward_calls"] == 4, r  # q, k, v, out
        assert r["naive_local_diff"] > 1e-2, r  # cutting the documents at the boundary would be wrong
    if "short_straddling" in name:
        assert r["max_doc"] <= r["chunk"], r  # every document fits a chunk, yet the all-to-all is needed
    if name.endswith("crossing"):  # measured bytes equal the formula (auto transport = all_to_all_single)
        assert r["a2a_forward_bytes"] == r["formula_bytes"], r


@pytest.mark.parametrize("world", [2, 4])
@pytest.mark.parametrize("name", ["model_crossing", "model_aligned", "model_padded", "model_crossing_checkpointing"])
def test_model_matches_single_process(world, name):
    r = case(world, name)
    assert r["logits"] < TOL, r
    assert r["loss"] < TOL, r
    assert r["grads_rel"] < TOL, r
    assert r["n_grads"][0] == r["n_grads"][1], r
    n_global, n_ref, n_mb = r["n_targets"]
    assert n_global == n_ref == n_mb, r  # the sum of the chunks' target counts is the micro-batch's
    if name == "model_aligned":
        assert not r["needs_all_to_all"] and r["a2a_forward_calls"] == 0, r
    else:
        assert r["needs_all_to_all"] and r["a2a_calls_first_forward"] == 2 * 4, r  # 2 layers x (q, k, v, out)
    if name == "model_padded":
        assert r["n_pad"] > 0, r


def test_dp2_sp2_step_matches_single_process():
    r = case(4, "dp2_sp2_step")
    assert r["layout"][1] == 2 and r["layout"][3] == 2 and r["sp_ranks"] == [0, 1], r  # rank 0's view
    assert r["n_step"][0] == r["n_step"][1], r
    assert r["grads_rel"] < TOL, r
    assert r["loss"] < TOL, r
