"""The tiny base model is calibrated (issue 12): its retrieval is well above chance at its own length (256) and well
below that at 4x its length (1024), so that context extension has headroom. 12 passkey items per length, greedy,
through the project's evaluation, on the base that `make reproduce` trains into the run store (runs/; 14:45 in a
fresh-clone run on 2 CPU cores, so the test is skipped until it is there: run it after a reproduction with PROLONG_RUNS unset)."""

from __future__ import annotations

import os

import pytest

from prolong import paths
from prolong.eval.config import EvalConfig
from prolong.eval.runner import evaluate_model, load_model
from prolong.experiments.graph import arm_chain, load_experiment
from prolong.runs import MODEL_DIR, Run
from tests.helpers.markers import integration


@pytest.fixture(scope="module")
def base_model_dir():
    spec = load_experiment("tiny", "T18")
    chain, _ = arm_chain(spec, spec.arms[0], 0, None)
    base = chain[len(spec.base) - 1]  # the last stage of the base chain: the tiny base model
    store = os.environ.get("PROLONG_TINY_BASE_RUNS", str(paths.REPO_ROOT / "runs"))  # the repository's run store
    run = Run.at(base.ref, store)
    if not (run.is_done() and (run.path / MODEL_DIR).is_dir()):
        pytest.skip(f"{run.path}: the tiny base is not trained yet (make reproduce trains it)")
    return run.path / MODEL_DIR


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
