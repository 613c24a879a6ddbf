"""Training under faults: a damaged checkpoint is skipped for the newest one that verifies, a kill before the first
checkpoint leaves no duplicate log steps, a run that trains to NaN fails with its checkpoints kept, and nothing in a
run folder is executed on resume."""

import json
import math
import pickle

import pytest
import torch
from safetensors.torch import load_file

from prolong.io import CorruptFileError, iter_jsonl
from prolong.train import loop
from prolong.train.checkpoint import FILES, newest_verified, verify_checkpoint
from prolong.train.loop import TrainingDivergedError, train
from tests.helpers.markers import integration
from tests.helpers.train import counting_data, tiny_params

pytestmark = integration  # trains and resumes whole (tiny) stages

PARAMS = dict(steps=8, batch_size=2, train__checkpoint_every=3)


class Killed(Exception):
    pass


def _weights(run):
    return load_file(str(run.path / "model" / "model.safetensors"))


def _same_run(a, b):
    wa, wb = _weights(a), _weights(b)
    assert wa.keys() == wb.keys() and all(torch.equal(wa[k], wb[k]) for k in wa)
    assert [r for r in iter_jsonl(a.path / "train_log.jsonl")] != []
    assert a.train_log().loss.tolist() == b.train_log().loss.tolist()
    assert list(b.train_log().step) == list(range(1, PARAMS["steps"] + 1))


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    """The reference run, trained once for the module in a run store of its own."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PROLONG_RUNS", str(tmp_path_factory.mktemp("reference") / "runs"))
        return train(tiny_params(**PARAMS), run_name="full", data=counting_data(64))


def _ckpts(name):
    from prolong import paths

    return paths.runs_dir() / "train" / name / "checkpoints"


def _stop_at(step_to_kill):
    def on_step(step, record):
        if step == step_to_kill:
            raise Killed
    return on_step


def test_kill_before_the_first_checkpoint_leaves_no_duplicate_steps(uninterrupted):
    params = tiny_params(**PARAMS)
    with pytest.raises(Killed):
        train(params, run_name="early", data=counting_data(64), on_step=_stop_at(2))
    with pytest.raises(Killed):
        train(params, run_name="early", data=counting_data(64), on_step=_stop_at(2))  # killed again, same place
    resumed = train(params, run_name="early", data=counting_data(64))
    assert list(resumed.train_log().step) == list(range(1, 9))  # was 1, 2, 1, 2, 1, ..., 8
    _same_run(uninterrupted, resumed)


@pytest.mark.parametrize("damage", ["model.safetensors", "optimizer.bin", "data_state_rank0.json",
                                    "flip model.safetensors"])
def test_damaged_latest_checkpoint_falls_back_to_the_previous_one(uninterrupted, damage, capsys):
    params = tiny_params(**PARAMS)
    name = "damaged-" + damage.replace(" ", "-").replace(".", "-")
    with pytest.raises(Killed):
        train(params, run_name=name, data=counting_data(64), on_step=_stop_at(7))
    ckpts = _ckpts(name)
    assert sorted(p.name for p in ckpts.iterdir()) == ["step_000003", "step_000006"]
    target = ckpts / "step_000006" / damage.split()[-1]
    data = target.read_bytes()
    if damage.startswith("flip"):  # same size, other bytes: only the checksum finds it
        target.write_bytes(data[:-9] + bytes([data[-9] ^ 0xFF]) + data[-8:])
        assert verify_checkpoint(ckpts / "step_000006", checksums=False) == []
    else:
        target.write_bytes(data[: len(data) // 2])  # a copy cut short
    capsys.readouterr()
    resumed = train(params, run_name=name, data=counting_data(64))
    err = capsys.readouterr().err
    assert f"checkpoint step_000006 skipped ({target}:" in err and "resuming from step_000003" in err
    assert (ckpts / ".damaged-step_000006").is_dir()  # moved aside, kept to look at
    _same_run(uninterrupted, resumed)


def test_checkpoints_record_sizes_and_checksums(uninterrupted):
    ckpt = uninterrupted.path / "checkpoints" / "step_000006"
    files = json.loads((ckpt / FILES).read_text())
    assert {"model.safetensors", "optimizer.bin", "data_state_rank0.json", "random_states_0.pkl"} <= set(files)
    assert all(len(f["sha256"]) == 64 and f["size"] == (ckpt / n).stat().st_size for n, f in files.items())
    assert json.loads((ckpt / "data_state_rank0.json").read_text()) == {"n": 12}
    assert newest_verified(uninterrupted.path / "checkpoints") == (uninterrupted.path / "checkpoints" / "step_000008",
                                                                   [])


class _Boom:
    def __reduce__(self):
        import os

        return (os.system, ("touch PWNED",))


def test_a_pickled_data_state_is_never_executed(uninterrupted, tmp_path, monkeypatch):
    """A run folder crafted with a pickle that runs code on load: refused, the code never runs."""
    params = tiny_params(**PARAMS)
    train(params, run_name="crafted", data=counting_data(64), max_steps=3)
    ckpt = _ckpts("crafted") / "step_000003"
    (ckpt / "data_state_rank0.json").unlink()
    (ckpt / "data_state_rank0.pt").write_bytes(pickle.dumps({"n": _Boom()}))
    (ckpt / FILES).unlink()  # as an old checkpoint, written before files.json
    monkeypatch.chdir(tmp_path)
    with pytest.raises(CorruptFileError, match=r"data_state_rank0\.pt: not a plain data state .*refusing to load"):
        train(params, run_name="crafted", data=counting_data(64))
    assert not (tmp_path / "PWNED").exists()
    # an old checkpoint's plain data state still loads (weights_only=True)
    torch.save({"n": 6}, ckpt / "data_state_rank0.pt")
    assert train(params, run_name="crafted", data=counting_data(64)).status() == "done"


def test_non_finite_loss_fails_the_run_and_keeps_the_last_good_checkpoint(monkeypatch):
    """From step 5 every gradient and loss is NaN (an overflow): the run stops after 3 such steps, marked failed;
    the checkpoint of step 3 is kept and no checkpoint or model is written from the NaN steps."""
    real = loop.forward_backward
    calls = {"n": 0}

    def poisoned(acc, net, micro_batches, *rest):
        calls["n"] += 1
        out = real(acc, net, micro_batches, *rest)
        if calls["n"] >= 5:
            for p in net.parameters():
                p.grad.fill_(float("nan"))
            out["loss"] = float("nan")
        return out

    monkeypatch.setattr(loop, "forward_backward", poisoned)
    params = tiny_params(steps=12, batch_size=2, train__checkpoint_every=3)
    with pytest.raises(TrainingDivergedError, match=r"non-finite for 3 steps in a row \(steps 5-7.*last good "
                                                    r"checkpoint kept: .*step_000003"):
        train(params, run_name="nan", data=counting_data(64))
    from prolong.runs import Run

    run = Run.at("train/nan")
    assert run.status() == "failed" and "TrainingDivergedError" in json.loads(
        (run.path / "status.json").read_text())["message"]
    assert sorted(p.name for p in (run.path / "checkpoints").iterdir()) == ["step_000003"]
    assert not (run.path / "model").exists()
    weights = load_file(str(run.path / "checkpoints" / "step_000003" / "model.safetensors"))
    assert all(torch.isfinite(w).all() for w in weights.values())
    log = run.train_log()
    assert list(log.step) == list(range(1, 8)) and log.skipped.fillna(False).tolist() == [False] * 4 + [True] * 3


def test_a_learning_rate_that_diverges_never_marks_the_run_done():
    """lr 1e30 is finite (accepted) but trains to NaN from step 2, as `lr: .inf` did; the run fails."""
    params = tiny_params(steps=8, batch_size=2, optim__lr=1e30, optim__warmup_fraction=0.0,
                         train__checkpoint_every=3)
    with pytest.raises(TrainingDivergedError, match="non-finite for 3 steps in a row"):
        train(params, run_name="huge-lr", data=counting_data(64))
    from prolong.runs import Run

    run = Run.at("train/huge-lr")
    assert run.status() == "failed" and not (run.path / "model").exists()
    assert not math.isfinite(run.train_log().grad_norm.iloc[-1])
