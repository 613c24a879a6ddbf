"""Two gloo processes compute the same step as one process holding all the data."""

import pytest
import torch

from train_helpers import gradients_and_train_worker, run_distributed_test


@pytest.mark.slow
def test_two_processes_equal_one(tmp_path):
    runs = tmp_path / "runs"
    ranks = run_distributed_test(gradients_and_train_worker, 2,
                                 env={"PROLONG_RUNS": str(runs), "PROLONG_QUIET": "1"})
    single = gradients_and_train_worker(0, 1)

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
    assert (runs / "test" / "ws2" / "model" / "model.safetensors").is_file()
