"""Fault injection: training is killed with SIGKILL at random points (before, during and after checkpoint writes,
during the final save, while the log is appended) and resumed; every time the final weights and the training log
equal those of the uninterrupted run.

Each attempt is a forked child of this process (the libraries are imported once, so a child starts at once) that
dies by SIGKILL, the way a preempted job does: no exception handler, no `finally`, no flush. Half of the trials kill
at the k-th file-system event of the run (a rename, an fsync or a tree removal: the commit points of every atomic
write, checkpoint and final model), k drawn over all events of an uninterrupted run; the other half kill after a
random delay, which also lands inside writes. Some trials kill twice before the resume that finishes.
"""

import os
import random
import shutil
import signal
import time
import traceback

import pytest
import torch
from safetensors.torch import load_file

from prolong import paths
from prolong.runs import Run
from prolong.train.loop import train
from tests.helpers.markers import integration
from tests.helpers.train import counting_data, tiny_params

pytestmark = [integration, pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")]

TRIALS = 24
LOG_FIELDS = ("step", "loss", "lr", "grad_norm", "tokens", "tokens_per_domain", "n_targets")  # not the timings
_EVENTS = (("os", "replace"), ("os", "fsync"), ("os", "rename"), ("shutil", "rmtree"))


def _params():
    # 8 steps, a checkpoint every 3 (and at 8), the oldest removed past 2: every kind of write happens
    return tiny_params(steps=8, batch_size=2, train__checkpoint_every=3, train__keep_checkpoints=2)


def _count_events(kill_at: int | None) -> list[int]:
    """Count file-system commit events in this (child) process; SIGKILL itself at event `kill_at`."""
    import os as os_module
    import shutil as shutil_module

    count = [0]
    modules = {"os": os_module, "shutil": shutil_module}
    for mod, name in _EVENTS:
        real = getattr(modules[mod], name)

        def hooked(*args, _real=real, **kwargs):
            count[0] += 1
            if count[0] == kill_at:
                os_module.kill(os_module.getpid(), signal.SIGKILL)
            return _real(*args, **kwargs)

        setattr(modules[mod], name, hooked)
    return count


def _in_child(run_name: str, kill_at: int | None = None, count_file: str | None = None) -> int:
    """Fork a child that trains `run_name` (to the end, unless killed); returns its pid."""
    pid = os.fork()
    if pid:
        return pid
    code = 0
    try:
        count = _count_events(kill_at)
        train(_params(), run_name=run_name, data=counting_data(64))
        if count_file:
            with open(count_file, "w") as f:
                f.write(str(count[0]))
    except BaseException:  # noqa: BLE001 - reported through the exit status
        traceback.print_exc()
        code = 1
    os._exit(code)


def _wait(pid: int, kill_after: float | None = None) -> int:
    """Wait for a child (SIGKILL it after `kill_after` seconds); its wait status."""
    if kill_after is not None:
        deadline = time.monotonic() + kill_after
        while time.monotonic() < deadline:
            done, status = os.waitpid(pid, os.WNOHANG)
            if done:
                return status
            time.sleep(0.005)
        os.kill(pid, signal.SIGKILL)
    return os.waitpid(pid, 0)[1]


def _finished(run_name: str) -> int:
    status = _wait(_in_child(run_name))
    assert os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0, f"{run_name}: the resume failed ({status})"
    return status


def _result(run_name: str):
    run = Run.at(f"train/{run_name}")
    log = [{k: r.get(k) for k in LOG_FIELDS} for r in run.train_log().to_dict("records")]
    return run.status(), load_file(str(run.path / "model" / "model.safetensors")), log


def test_random_kills_then_resume_equal_the_uninterrupted_run(tmp_path):
    torch.set_num_threads(1)
    count_file = str(tmp_path / "events")
    start = time.monotonic()
    _finished_ref = _wait(_in_child("reference", count_file=count_file))
    wall = time.monotonic() - start
    assert os.WIFEXITED(_finished_ref) and os.WEXITSTATUS(_finished_ref) == 0
    n_events = int(open(count_file).read())
    assert n_events > 20  # the run's commit points: log appends, checkpoint renames, the final model
    ref_status, ref_weights, ref_log = _result("reference")
    assert ref_status == "done" and [r["step"] for r in ref_log] == list(range(1, 9))

    rng = random.Random(15)
    kinds = {"event": 0, "time": 0, "twice": 0}
    for trial in range(TRIALS):
        name = f"trial{trial:02d}"
        kills = 2 if trial % 4 == 3 else 1
        for _ in range(kills):
            if trial % 2 == 0:  # at the k-th commit event of the run
                k = rng.randint(1, n_events)
                status = _wait(_in_child(name, kill_at=k))
                kinds["event"] += 1
            else:  # after a random delay
                status = _wait(_in_child(name), kill_after=rng.uniform(0.0, wall))
                kinds["time"] += 1
            killed = os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGKILL
            assert killed or (os.WIFEXITED(status) and os.WEXITSTATUS(status) == 0), (name, status)
        kinds["twice"] += kills == 2
        _finished(name)
        status, weights, log = _result(name)
        assert status == "done", name
        assert log == ref_log, f"{name}: the training log differs from the uninterrupted run"
        assert weights.keys() == ref_weights.keys() and all(torch.equal(weights[k], ref_weights[k])
                                                            for k in weights), f"{name}: weights differ"
        leftovers = [p.name for p in (paths.runs_dir() / "train" / name / "checkpoints").iterdir()
                     if p.name.startswith(".")]
        assert leftovers == [], (name, leftovers)  # no temp or damaged checkpoint left behind
        shutil.rmtree(paths.runs_dir() / "train" / name)  # keep the disk small
    assert kinds["event"] >= 12 and kinds["time"] >= 12 and kinds["twice"] >= 6
