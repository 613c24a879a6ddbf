"""The shipped tiny base model is calibrated (issue 12): its retrieval is well above chance at its own length (256)
and well below that at 4x its length (1024), so that context extension has headroom. A small, fast version of the
calibration in the closing note: 12 passkey items per length, greedy, through the project's evaluation."""

from __future__ import annotations

import pytest

from prolong.eval.config import EvalConfig
from prolong.eval.runner import evaluate_model, load_model
from prolong.experiments.graph import arm_chain, load_experiment
from prolong.experiments.shipped import restore_shipped, shipped_path
from prolong.paths import PARAMS_DIR
from prolong.runs import MODEL_DIR, Run
from prolong.tiny import build_tiny
from tests.helpers.markers import integration


@pytest.fixture(scope="module")
def base_model_dir():
    spec = load_experiment("tiny", "T18")
    chain, _ = arm_chain(spec, spec.arms[0], 0, None)
    base = chain[len(spec.base) - 1]  # the last stage of the base chain: the tiny base model
    assert (shipped_path(base.ref) / MODEL_DIR).is_dir(), (
        f"{shipped_path(base.ref)}: the tiny base model for today's params is not shipped (after changing them, train "
        f"it and run `python -m prolong.experiments.shipped {base.ref}`)")
    build_tiny()
    lines: list[str] = []
    assert restore_shipped(base.ref, base.params, lines.append), lines  # a corpus change without re-shipping fails
    return Run.at(base.ref).path / MODEL_DIR


@integration
def test_base_retrieves_at_its_length_and_not_at_4x(base_model_dir):
    cfg = EvalConfig.from_yaml(PARAMS_DIR / "tiny" / "eval.yaml")
    cfg = EvalConfig.from_dict({**cfg.to_dict(), "tasks": ["niah_passkey"], "lengths": [256, 1024],
                                "num_samples": 12, "categories": {"Recall": ["niah_passkey"]}}, "calibration")
    model, tokenizer = load_model(base_model_dir, cfg)
    scores = evaluate_model(model, tokenizer, cfg)
    own, long = scores["Recall@256"], scores["Recall@1024"]
    assert own >= 40, scores          # well above chance (a 5-digit pass key: chance is ~0)
    assert long <= own - 25, scores   # headroom for extension at 4x the base's length
