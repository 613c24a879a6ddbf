"""The final model as every tool reads it: theta, tokenizer, chat template and weights the same in transformers 5 (the
project's) and 4.x (HELMET, vLLM and lm-eval users: installed into a throw-away folder inside the test), bf16
weights when the stage trains in bf16."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from accelerate import Accelerator

from prolong.data.tokenizer import CHAT_TEMPLATE, train_byte_bpe
from prolong.model.build import CausalLMWithLoss, ModelConfig, build_model
from prolong.train.export import save_dtype
from prolong.train.loop import save_final_model
from tests.helpers.markers import integration

PROBE = Path(__file__).resolve().parents[1] / "helpers" / "hf_probe.py"
TF4 = os.environ.get("PROLONG_TEST_TF4", "transformers>=4.44,<4.45")   # the oldest 4.x the checkpoints promise
THETA = 8.0e6


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    """A 2-layer Llama at theta 8e6 with a byte-level BPE and a chat template, saved as a bf16 stage saves it."""
    root = tmp_path_factory.mktemp("export")
    texts = ["def f(x):\n    return x + 1\n", "Once upon a time Mira lived by the river.", "What number? 4821"] * 40
    tok = train_byte_bpe(texts, root / "tokenizer", vocab_size=320)
    torch.manual_seed(0)
    lm = build_model(ModelConfig(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=4, num_kv_heads=2,
                                 rope_theta=THETA, max_position_embeddings=1024), vocab_size=320)
    save_final_model(Accelerator(cpu=True), CausalLMWithLoss(lm), root / "model", str(tok), torch.bfloat16)
    return root / "model"


def _probe(folder: Path, pythonpath: str | None = None) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    if pythonpath:
        env["PYTHONPATH"] = pythonpath
    out = subprocess.run([sys.executable, str(PROBE), str(folder)], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr[-3000:]
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_saved_files_carry_theta_for_both_versions(saved):
    cfg = json.loads((saved / "config.json").read_text())
    assert cfg["rope_theta"] == THETA and cfg["rope_parameters"]["rope_theta"] == THETA and cfg["rope_scaling"] is None
    assert cfg["torch_dtype"] == cfg["dtype"] == "bfloat16"
    tok = json.loads((saved / "tokenizer_config.json").read_text())
    assert tok["tokenizer_class"] == "PreTrainedTokenizerFast" and tok["chat_template"] == CHAT_TEMPLATE
    assert "extra_special_tokens" not in tok and "<|assistant|>" in tok["additional_special_tokens"]
    assert save_dtype("bf16", "cpu") == save_dtype("auto", "cuda") == torch.bfloat16
    assert save_dtype("auto", "cpu") == save_dtype("fp32", "cuda") == torch.float32


def test_transformers_5_loads_it(saved):
    from tests.helpers.hf_probe import probe

    got = probe(str(saved))
    assert got["theta"] == THETA and got["stored_dtype"] == "torch.bfloat16"
    assert "<|assistant|>" in got["special"] and got["chat"].startswith("<|user|>\nWhat number?<|end|>")


@pytest.fixture(scope="module")
def transformers4(tmp_path_factory):
    """transformers 4.x and its dependencies (no torch: the project's is used) in a throw-away folder."""
    target = tmp_path_factory.mktemp("tf4")
    pip = subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check",
                          "--target", str(target), TF4], capture_output=True, text=True, timeout=300)
    if pip.returncode != 0:
        pytest.skip(f"pip could not install {TF4} (no registry?): {pip.stderr.strip().splitlines()[-1:]}")
    return str(target)


@integration
def test_transformers_4_loads_the_same_model(saved, transformers4):
    v4, v5 = _probe(saved, transformers4), _probe(saved)
    assert v4["version"].startswith("4.") and v5["version"].startswith("5.")
    assert v4["theta"] == v5["theta"] == THETA                    # not the silent 1e4 of a config without it
    assert v4["ids"] == v5["ids"] and v4["chat"] == v5["chat"] and v4["special"] == v5["special"]
    assert v4["tokenizer_class"] == "PreTrainedTokenizerFast"
    torch.testing.assert_close(torch.tensor(v4["logits"]), torch.tensor(v5["logits"]), atol=1e-4, rtol=1e-4)
