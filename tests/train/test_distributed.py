"""Two gloo processes compute the same step as one process holding all the data: with data parallelism (each rank its
own sequences) and with sequence parallelism (both ranks share every sequence, one chunk each)."""

import numpy as np
import pytest
import torch

from prolong.model.ulysses import needs_all_to_all
from prolong.train.batching import make_micro_batch
from tests.helpers.markers import integration
from tests.helpers.train import (SP_STEPS, CountingStream, gradients_and_train_worker, gradients_worker,
                           run_distributed_test, sp_train_worker, train_worker)

pytestmark = integration


@pytest.fixture(scope="module")
def two_ranks(tmp_path_factory):
    """One set of 2 processes runs every check (starting processes costs more than the work)."""
    runs = tmp_path_factory.mktemp("runs2")
    ranks = run_distributed_test(gradients_and_train_worker, 2, env={"PROLONG_RUNS": str(runs), "PROLONG_QUIET": "1"})
    return runs, ranks


def test_two_processes_equal_one(two_ranks):
    runs, ranks = two_ranks
    single = {"step": gradients_worker(0, 1), "curve": train_worker(0, 1)}

    # one step: loss and gradients, token-averaged over ranks with unequal target counts
    one, two = single["step"], [r["step"] for r in ranks]
    counts = [r["n_targets_rank"] for r in two]
    assert counts[0] != counts[1]  # a per-rank mean would weight these ranks' tokens wrongly
    assert sum(counts) == one["n_targets_step"] == two[0]["n_targets_step"]
    for r in two:
        assert r["loss"] == pytest.approx(one["loss"], rel=1e-6)
        for name, g in one["grads"].items():
            assert torch.allclose(r["grads"][name], g, rtol=1e-4, atol=1e-6), name

    # the whole loop: the same loss curve (summation order differs across processes: not bitwise)
    assert ranks[0]["curve"] == pytest.approx(single["curve"], rel=1e-5)
    assert (runs / "train" / "ws2" / "model" / "model.safetensors").is_file()


def test_sequence_parallel_loop_equals_one_process(two_ranks):
    """sequence_parallel_size 2 over 2 processes (dp 1): the same loss curve as 1 process on the same sequences,
    whose documents cross the chunk boundary (so attention needs the all-to-all)."""
    runs, ranks = two_ranks
    stream = CountingStream(64, seed=7, sft=True)
    rows = [make_micro_batch([next(stream)]) for _ in range(2 * SP_STEPS)]
    crossing = [needs_all_to_all(mb.cu_seq_lens, 64, 2) for mb in rows]
    assert sum(crossing) >= SP_STEPS, crossing  # most micro-batches have a document across tokens 31|32

    single = sp_train_worker(0, 1)
    sp = ranks[0]["sp"]
    assert len(sp["curve"]) == SP_STEPS
    assert sp["curve"] == pytest.approx(single["curve"], rel=1e-5)
    assert sp["n_targets"] == single["n_targets"]  # every target counted once over the two chunks
    assert sp["tokens_per_domain"] == single["tokens_per_domain"]  # tokens counted once per group, not per rank
    assert single["a2a_forward_calls"] == 0
    for r in ranks:  # 2 layers x (q, k, v, out) per micro-batch whose documents cross the boundary
        assert r["sp"]["a2a_forward_calls"] == 2 * 4 * sum(crossing), r["sp"]
    assert (runs / "train" / "sp2" / "model" / "model.safetensors").is_file()
    assert np.isfinite(sp["curve"]).all()
