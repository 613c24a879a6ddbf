"""Overrides where users expect them: `prolong train/eval --set a.b=value` (dotted, checked by the strict config
code) and `prolong reproduce -p NAME VALUE` (checked against the notebook's parameters cell)."""

from __future__ import annotations

import pytest

from prolong import batch, cli, paths
from prolong.config import ConfigError, apply_assignments
from prolong.eval.config import EvalConfig
from prolong.train import cli as train_cli
from prolong.train.config import TrainParams

STAGE1 = str(paths.PARAMS_DIR / "tiny" / "stages" / "stage1.yaml")


def test_set_overrides_dotted_keys_with_the_files_types():
    p = TrainParams.from_yaml(STAGE1, overrides=["optim.lr=1e-4", "data.seq_len=512", "train.keep_checkpoints=null",
                                                 "optim.betas=[0.9, 0.99]"])
    assert (p.optim.lr, p.data.seq_len, p.train.keep_checkpoints, p.optim.betas) == (1e-4, 512, None, [0.9, 0.99])
    base = TrainParams.from_yaml(STAGE1)
    assert p.model == base.model and p.train.steps == base.train.steps  # nothing else moved


@pytest.mark.parametrize("assignment, message", [
    ("optim.lrr=1e-4", r"--set optim.lrr: unknown key 'optim.lrr' \(known keys of optim: betas, eps, .*lr,"),
    ("optimizer.lr=1", r"--set optimizer.lr: unknown key 'optimizer' \(known keys of TrainParams: data, "),
    ("optim.lr=fast", r"--set optim.lr: expected a number, got 'fast'"),
    ("data.seq_len=2048.5", r"--set data.seq_len: expected an integer, got 2048.5"),
    ("train.precision=fp8", r"--set train.precision: 'fp8' is not one of \['auto', 'bf16', 'fp32'\]"),
    ("optim.lr.peak=1", r"--set optim.lr.peak: 'optim.lr' is a value, not a section"),
    ("optim.lr", r"--set 'optim.lr': expected KEY=VALUE"),
    ("train.steps=0", r"stage1.yaml with --set train.steps=0: train: steps must be positive"),  # __post_init__
])
def test_bad_override_is_an_error_naming_it(assignment, message):
    with pytest.raises(ConfigError, match=message):
        TrainParams.from_yaml(STAGE1, overrides=[assignment])


def test_prolong_train_set_reaches_the_trainer_and_errors_name_the_key(monkeypatch, capsys):
    seen = {}

    class Done:
        path, status = "runs/train/x", staticmethod(lambda: "done")

    monkeypatch.setattr(train_cli, "train", lambda params, **kw: seen.update(params=params, **kw) or Done())
    assert cli.main(["train", "--params", STAGE1, "--set", "optim.lr=1e-4", "--set", "data.seq_len=2048",
                     "--set", "model.max_position_embeddings=2048", "--run-name", "lr1e-4"]) == 0
    assert (seen["params"].optim.lr, seen["params"].data.seq_len, seen["run_name"]) == (1e-4, 2048, "lr1e-4")
    assert cli.main(["train", "--params", STAGE1, "--set", "optim.lrr=1e-4"]) == 2
    assert "error: --set optim.lrr: unknown key 'optim.lrr'" in capsys.readouterr().err
    # seq_len past the model's positions: the dataclass's own check, naming the file and the override
    assert cli.main(["train", "--params", STAGE1, "--set", "data.seq_len=2048"]) == 2
    assert "with --set data.seq_len=2048: model.max_position_embeddings 1024 is shorter" in capsys.readouterr().err


def test_prolong_eval_set(tmp_path, capsys):
    from prolong.eval import cli as eval_cli

    parser = cli.build_parser()
    args = parser.parse_args(["eval", "--model", str(tmp_path), "--params",
                              str(paths.PARAMS_DIR / "tiny" / "eval.yaml"), "--num-samples", "7",
                              "--set", "num_samples=5", "--set", "judge.enabled=false", "--set", "lengths=[256]"])
    cfg = eval_cli.resolve_config(args)
    assert (cfg.num_samples, cfg.judge.enabled, cfg.lengths) == (5, False, [256])  # --set comes last
    with pytest.raises(ConfigError, match=r"--set judge.enabeld: unknown key 'judge.enabeld' \(known keys of judge"):
        apply_assignments(EvalConfig, EvalConfig().to_dict(), ["judge.enabeld=true"])
    # and through the command: one error line, exit 2, before the model is looked at
    assert cli.main(["eval", "--model", str(tmp_path), "--set", "num_samples=many"]) == 2
    assert capsys.readouterr().err == "error: --set num_samples: expected an integer, got 'many'\n"


def test_reproduce_p_passes_validated_papermill_parameters(monkeypatch, capsys):
    seen = {}
    monkeypatch.setattr(batch, "reproduce", lambda scale, sel, overrides=None, force=False: seen.update(
        scale=scale, sel=sel, overrides=overrides, force=force) or [])
    assert cli.main(["reproduce", "--notebooks", "02", "-p", "steps", "40", "-p", "arms", "[books, code]"]) == 0
    assert seen == {"scale": "tiny", "sel": ["02"], "overrides": {"steps": 40, "arms": ["books", "code"]}, "force": False}


def test_reproduce_p_of_the_wrong_type_is_refused(monkeypatch, capsys):
    monkeypatch.setattr(batch, "build_tiny", lambda: pytest.fail("ran before validating"))
    assert cli.main(["reproduce", "--notebooks", "02", "-p", "steps", "forty"]) == 2
    assert "error: -p: steps: expected int, got str 'forty'" in capsys.readouterr().err
    assert cli.main(["reproduce", "--notebooks", "02", "-p", "step", "40"]) == 2
    assert "error: -p: unknown parameter 'step' for notebook 02_long_context_data.ipynb" in capsys.readouterr().err
