"""The `prolong` command reports bad input and damaged files as one `error:` line naming the file, exit status 2 (they
were tracebacks with exit 1), and runs as `python -m prolong`."""

import subprocess
import sys

import pytest
import torch
import yaml
from transformers import LlamaConfig, LlamaForCausalLM

from prolong import cli, paths
from prolong.io import CorruptFileError


def _error(capsys, argv):
    assert cli.main(argv) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "Traceback" not in err, err
    return err


def test_python_dash_m_prolong_runs_and_reports_errors(tmp_path):
    out = subprocess.run([sys.executable, "-m", "prolong", "train", "--params", str(tmp_path / "missing.yaml")],
                         capture_output=True, text=True, cwd=tmp_path, timeout=300,
                         env={"PYTHONPATH": str(paths.REPO_ROOT), "PATH": "/usr/bin:/bin", "PROLONG_QUIET": "1"})
    assert out.returncode == 2 and out.stderr == f"error: {tmp_path / 'missing.yaml'}: params file not found\n"


def test_report_and_reproduce_errors(capsys, tmp_path):
    assert "unknown table 'T99'" in _error(capsys, ["report", "--tables", "T99"])
    assert f"{tmp_path / 'elsewhere'}: run source not found" in _error(
        capsys, ["report", "--sources", str(tmp_path / "elsewhere")])
    assert "no params for scale 'huge'" in _error(capsys, ["reproduce", "--scale", "huge"])
    assert "unknown notebook '99'" in _error(capsys, ["reproduce", "--notebooks", "99"])


def test_train_sequence_parallel_in_one_process_refused_before_the_run_folder(capsys, tmp_path):
    params = yaml.safe_load((paths.PARAMS_DIR / "tiny" / "stages" / "base.yaml").read_text())
    params["train"]["sequence_parallel_size"] = 2
    (tmp_path / "sp.yaml").write_text(yaml.safe_dump(params))
    err = _error(capsys, ["train", "--params", str(tmp_path / "sp.yaml")])
    assert "train.sequence_parallel_size 2 needs 2 or more processes" in err
    assert not (paths.runs_dir() / "train" / params["name"]).exists()


@pytest.fixture
def truncated_model(tmp_path):
    model = LlamaForCausalLM(LlamaConfig(vocab_size=64, hidden_size=16, intermediate_size=32, num_hidden_layers=1,
                                         num_attention_heads=2, num_key_value_heads=1))
    model.save_pretrained(tmp_path / "model")
    weights = tmp_path / "model" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-100])  # a copy cut short
    return tmp_path / "model"


def test_truncated_model_weights_are_named(truncated_model, capsys):
    from prolong.eval.config import EvalConfig
    from prolong.eval.runner import load_model
    from prolong.model.build import ModelConfig, build_model

    weights = truncated_model / "model.safetensors"
    with pytest.raises(CorruptFileError, match=rf"{weights}: \d+ bytes, its header describes \d+ \(truncated"):
        load_model(truncated_model, EvalConfig())
    with pytest.raises(CorruptFileError, match=rf"{weights}: "):  # a previous stage's model (init_from)
        build_model(ModelConfig(max_position_embeddings=64), init_path=truncated_model, dtype=torch.float32)
    err = _error(capsys, ["eval", "--model", str(truncated_model), "--tasks", "json_kv", "--lengths", "256"])
    assert f"{weights}: " in err
