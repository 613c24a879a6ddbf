"""The training loop end to end on a tiny model: it learns, resumes exactly after a kill, chains stages, and refuses
bad inputs without touching checkpoints."""

import pytest
import torch
from safetensors.torch import load_file

from prolong.config import ConfigError
from prolong.runs import RunMismatchError
from prolong.train.config import lr_at
from prolong.train.loop import DataSetup, train
from tests.helpers.markers import integration
from tests.helpers.train import VOCAB, counting_data, tiny_params

pytestmark = integration  # trains, kills and resumes whole stages


class Killed(Exception):
    pass


def _weights(run):
    return load_file(str(run.path / "model" / "model.safetensors"))


def test_loss_falls_and_log_has_every_field():
    params = tiny_params(steps=24, batch_size=4, optim__lr=3e-3)
    run = train(params, run_name="learn", data=counting_data(64))
    log = run.train_log()
    assert list(log.step) == list(range(1, 25))
    assert log.loss.iloc[-3:].mean() < log.loss.iloc[:3].mean() - 0.8, log.loss.tolist()
    for field in ("lr", "grad_norm", "tokens_per_domain", "tokens_per_s", "peak_mem_gib", "mfu", "n_targets"):
        assert field in log.columns
    assert log.tokens_per_domain.iloc[-1] == {"even": 24 * 2 * 64, "odd": 24 * 2 * 64}
    assert run.status() == "done" and (run.path / "model" / "config.json").is_file()


def test_kill_and_resume_equals_uninterrupted():
    params = tiny_params(steps=8, batch_size=4, micro_batch_size=2, train__checkpoint_every=3)
    full = train(params, run_name="full", data=counting_data(64))

    def kill_at_5(step, record):
        if step == 5:
            raise Killed  # after step 5 was logged, before its (non-)checkpoint: resume restarts at step 3

    with pytest.raises(Killed):
        train(params, run_name="killed", data=counting_data(64), on_step=kill_at_5)
    ckpts = full.path.parent / "killed" / "checkpoints"
    assert sorted(p.name for p in ckpts.iterdir()) == ["step_000003"]
    (ckpts / ".tmp-step_000006").mkdir()  # a save that was killed half-way: ignored and cleaned up
    resumed = train(params, run_name="killed", data=counting_data(64))

    assert resumed.train_log().loss.tolist() == full.train_log().loss.tolist()
    a, b = _weights(full), _weights(resumed)
    assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    assert not (ckpts / ".tmp-step_000006").exists()
    # running a finished run again does nothing
    assert train(params, run_name="killed", data=counting_data(64)).status() == "done"


def test_max_steps_stops_then_continues():
    params = tiny_params(steps=6, batch_size=2, train__checkpoint_every=100)
    run = train(params, run_name="partial", data=counting_data(64), max_steps=2)
    assert run.status() == "running" and len(run.train_log()) == 2
    assert (run.path / "checkpoints" / "step_000002").is_dir()
    run = train(params, run_name="partial", data=counting_data(64))
    assert run.status() == "done" and list(run.train_log().step) == list(range(1, 7))


def test_resume_with_other_params_is_refused_and_checkpoints_kept():
    params = tiny_params(steps=3, batch_size=2)
    run = train(params, run_name="r", data=counting_data(64))
    before = {p: p.stat().st_mtime_ns for p in (run.path / "checkpoints").rglob("*")}
    with pytest.raises(RunMismatchError, match="optim.lr"):
        train(tiny_params(steps=3, batch_size=2, optim__lr=1e-4), run_name="r", data=counting_data(64))
    after = {p: p.stat().st_mtime_ns for p in (run.path / "checkpoints").rglob("*")}
    assert before == after


def test_stage2_restores_optimizer_state_and_restarts_schedule():
    s1 = tiny_params(experiment="stage1", steps=6, batch_size=2)
    stage1 = train(s1, run_name="s1", data=counting_data(64))
    s2 = tiny_params(experiment="stage2", seq_len=128, steps=4, batch_size=2, model__rope_theta=1e5,
                     train__init_from="train/s1", train__load_optimizer=True, train__checkpoint_every=4)
    stage2 = train(s2, run_name="s2", data=counting_data(128))
    fresh = train(tiny_params(experiment="stage2", seq_len=128, steps=4, batch_size=2, model__rope_theta=1e5,
                              train__init_from="train/s1", train__checkpoint_every=4),
                  run_name="s2-fresh-optimizer", data=counting_data(128))

    def adam_steps(run, step):
        state = torch.load(run.path / "checkpoints" / f"step_{step:06d}" / "optimizer.bin", weights_only=False)
        return {int(s["step"]) for s in state["state"].values()}

    assert adam_steps(stage1, 6) == {6}
    assert adam_steps(stage2, 4) == {10}     # Stage 1's moments (and step count) carried on
    assert adam_steps(fresh, 4) == {4}
    log1, log2 = stage1.train_log(), stage2.train_log()
    assert log2.lr.tolist() == pytest.approx([lr_at(i, s2.optim, 4) for i in range(4)])  # the schedule restarted
    assert log1.lr.tolist() == pytest.approx([lr_at(i, s1.optim, 6) for i in range(6)])
    config = (stage2.path / "model" / "config.json").read_text()
    assert '"rope_theta": 100000.0' in config and '"max_position_embeddings": 128' in config
    # Stage 2 starts from Stage 1's weights: its first loss is near Stage 1's last, far below a fresh model's
    assert log2.loss.iloc[0] < log1.loss.iloc[0] - 0.3


def test_bad_inputs_are_clear_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="init_from 'stage1/nope'"):
        train(tiny_params(train__init_from="stage1/nope"), run_name="x", data=counting_data(64))
    with pytest.raises(FileNotFoundError, match="model checkpoint .*directory not found"):
        train(tiny_params(model__pretrained=str(tmp_path / "llama")), run_name="y", data=counting_data(64))
    too_big = DataSetup(counting_data(64).stream_factory, vocab_size=VOCAB + 1)
    with pytest.raises(ValueError, match="tokenizer has 65 tokens"):
        train(tiny_params(), run_name="z", data=too_big)
    with pytest.raises(ConfigError, match="not a multiple"):
        tiny_params(batch_size=3, micro_batch_size=2)
    with pytest.raises(ConfigError, match="sequence_parallel_size must be positive"):
        tiny_params(train__sequence_parallel_size=0)
    from prolong import paths

    with pytest.raises(ConfigError, match="train.sequence_parallel_size 2 needs 2 or more processes, this launch has one"):
        train(tiny_params(train__sequence_parallel_size=2), run_name="sp", data=counting_data(64))
    assert not (paths.runs_dir() / "train" / "sp").exists()  # refused before the run folder: a corrected rerun
    assert train(tiny_params(steps=1), run_name="sp", data=counting_data(64)).status() == "done"


def test_resume_with_other_processes_or_sequence_parallel_size_is_refused():
    from prolong.io import atomic_write_json, read_json
    from prolong.train.checkpoint import TRAINER_STATE, ResumeMismatchError

    params = tiny_params(steps=4, train__checkpoint_every=2)
    run = train(params, run_name="layout", max_steps=2, data=counting_data(64))
    state_file = run.path / "checkpoints" / "step_000002" / TRAINER_STATE
    state = read_json(state_file)
    assert state["world_size"] == 1 and state["sequence_parallel_size"] == 1
    atomic_write_json(state_file, {**state, "world_size": 2})
    with pytest.raises(ResumeMismatchError, match="written by 2 processes, resuming with 1"):
        train(params, run_name="layout", data=counting_data(64))
    atomic_write_json(state_file, {**state, "world_size": 1, "sequence_parallel_size": 2})
    with pytest.raises(ResumeMismatchError, match="sequence_parallel_size 2, resuming with 1"):
        train(params, run_name="layout", data=counting_data(64))
    atomic_write_json(state_file, state)  # the checkpoint is untouched by the refusals: resuming still works
    assert list(train(params, run_name="layout", data=counting_data(64)).train_log().step) == [1, 2, 3, 4]


def test_cli_errors_are_reported(tmp_path, capsys):
    import argparse

    from prolong.train.cli import add_arguments, main

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    assert main(parser.parse_args(["--params", str(tmp_path / "missing.yaml")])) == 2
    assert "params file not found" in capsys.readouterr().err
    bad = tmp_path / "bad.yaml"
    bad.write_text("experiment: x\nmodel: {hidden: 3}\n")
    assert main(parser.parse_args(["--params", str(bad)])) == 2
    assert "unknown key 'hidden'" in capsys.readouterr().err
