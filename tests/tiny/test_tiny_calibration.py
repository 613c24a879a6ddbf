"""The tiny base model is calibrated (issue 12): its retrieval is well above chance at its own length (256) and well
below that at 4x its length (1024), so that context extension has headroom. 12 passkey items per length, greedy,
through the project's evaluation, on the base the repository ships (results/tiny_base: the run the base chain
trains, prolong.experiments.shipped_base)."""

from __future__ import annotations

import pytest

from prolong import paths
from prolong.eval.config import EvalConfig
from prolong.eval.runner import evaluate_model, load_model
from prolong.experiments.shipped_base import SHIPPED_DIR, read_manifest
from prolong.runs import MODEL_DIR
from tests.helpers.markers import integration


@pytest.fixture(scope="module")
def base_model_dir():
    return SHIPPED_DIR / read_manifest()["run"] / MODEL_DIR


@integration
def test_base_retrieves_at_its_length_and_not_at_4x(base_model_dir):
    cfg = EvalConfig.from_yaml(paths.PARAMS_DIR / "tiny" / "eval.yaml")
    cfg = EvalConfig.from_dict({**cfg.to_dict(), "tasks": ["niah_passkey"], "lengths": [256, 1024],
                                "num_samples": 12, "categories": {"Recall": ["niah_passkey"]}}, "calibration")
    model, tokenizer = load_model(base_model_dir, cfg)
    scores = evaluate_model(model, tokenizer, cfg)
    own, long = scores["Recall@256"], scores["Recall@1024"]
    assert own >= 40, scores          # well above chance (a 5-digit pass key: chance is ~0)
    assert long <= own - 25, scores   # headroom for extension at 4x the base's length
