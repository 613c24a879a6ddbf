"""Every training run writes TensorBoard curves next to its JSONL log, and its saved model a Hugging Face model card."""

from __future__ import annotations

import sys
import types

import pytest
import yaml

from prolong import curves
from prolong.runs import MODEL_DIR, Run
from prolong.train.loop import train
from prolong.train.model_card import model_card
from tests.helpers.train import counting_data, tiny_params


def _events(run: Run) -> dict[str, list[tuple[int, float]]]:
    """{tag: [(step, value), ...]} read back from the run's event files, as TensorBoard reads them."""
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    acc = EventAccumulator(str(run.path / curves.TB_DIR))
    acc.Reload()
    return {tag: [(e.step, e.value) for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}


@pytest.fixture
def mixture(tmp_path):
    path = tmp_path / "mix.yaml"
    path.write_text("mixture: [even@0.6, odd@0.4]\ndomains: {even: {store: s/even}, odd: {store: s/odd}}\n")
    return str(path)


def test_event_files_hold_the_logged_steps_and_survive_a_resume(mixture):
    params = tiny_params(steps=6, data__mixture=mixture, train__checkpoint_every=3)
    train(params, run_name="tb", data=counting_data(64), max_steps=4)  # stops at 4 (checkpoint at 3) ...
    run = train(params, run_name="tb", data=counting_data(64))  # ... resumes at 3: steps 4-6 logged again
    log = run.train_log()
    events = _events(run)
    assert [s for s, _ in events["train/loss"]] == [1, 2, 3, 4, 5, 6]  # the superseded step 4 purged
    assert [v for _, v in events["train/loss"]] == pytest.approx(list(log["loss"]), rel=1e-6)
    for tag in ("train/lr", "train/grad_norm", "perf/tokens_per_s", "perf/mfu", "data/tokens/even",
                "data/tokens/odd"):
        assert len(events[tag]) == 6, tag
    assert events["data/tokens/even"][-1][1] == log["tokens_per_domain"].iloc[-1]["even"]


def test_no_event_files_when_turned_off(monkeypatch):
    monkeypatch.setenv("PROLONG_TENSORBOARD", "0")
    run = train(tiny_params(steps=2), run_name="off", data=counting_data(64))
    assert not (run.path / curves.TB_DIR).exists() and len(run.train_log()) == 2


def test_wandb_gets_the_same_scalars_when_asked_for(monkeypatch, tmp_path):
    logged, inits = [], []

    class FakeRun:
        def log(self, values, step):
            logged.append((step, values))

        def finish(self):
            logged.append("finished")

    fake = types.ModuleType("wandb")
    fake.init = lambda **kw: inits.append(kw) or FakeRun()
    monkeypatch.setitem(sys.modules, "wandb", fake)
    monkeypatch.setenv("PROLONG_WANDB", "offline")
    run = Run.open("train", "wb", {"optim": {"lr": 1e-3}})
    run.log_step({"step": 1, "loss": 2.5, "lr": 1e-3, "tokens_per_domain": {"books": 10}})
    run.set_status("done")
    assert inits[0]["mode"] == "offline" and inits[0]["id"] == "wb" and inits[0]["config"] == {"optim": {"lr": 1e-3}}
    assert logged == [(1, {"train/loss": 2.5, "train/lr": 1e-3, "data/tokens/books": 10.0}), "finished"]


def _front_matter(card: str) -> dict:
    assert card.startswith("---\n")
    return yaml.safe_load(card.split("---\n")[1])


def test_saved_model_has_a_model_card_with_mixture_tokens_and_scores(mixture):
    params = tiny_params(steps=3, data__mixture=mixture, model__rope_theta=8e6)
    run = train(params, run_name="carded", data=counting_data(64))
    card = (run.path / MODEL_DIR / "README.md").read_text()
    front = _front_matter(card)
    assert front["library_name"] == "transformers" and "prolong" in front["tags"] and "long-context" in front["tags"]
    assert "base_model" not in front  # trained from scratch
    log = run.train_log().iloc[-1]
    assert "| sequence length | 64 tokens |" in card and "| RoPE theta | 8e+06 |" in card
    assert f"| tokens seen | {int(log['tokens']):,} in 3 steps of 4 sequences |" in card
    even = int(log["tokens_per_domain"]["even"])
    assert f"| even | 60% | {even:,} |" in card and "| odd | 40% |" in card
    assert "prolong train --params " in card and "carded/params.yaml --run-name carded" in card
    assert "Not evaluated yet" in card
    # an evaluation of the model, once done, is listed on its card
    ev = Run.open("eval", "carded-0123456789", {"model": "train/carded", "eval": {}})
    ev.write_scores({"Recall": 41.5})
    ev.set_status("done")
    card = (run.path / MODEL_DIR / "README.md").read_text()
    assert "| carded-0123456789 | Recall | 41.50 |" in card


def test_card_names_a_known_base_checkpoint_and_its_license():
    run = Run.open("train", "smol", {"experiment": "stage1", "model": {"pretrained": "models/SmolLM2-135M-Instruct",
                                                                      "rope_theta": None},
                                     "data": {"seq_len": 2048, "mixture": "params/tiny/mixtures/stage1.yaml"},
                                     "train": {"batch_size": 8}, "optim": {"lr": 1e-5}})
    card = model_card(run)
    front = _front_matter(card)
    assert front["base_model"] == "HuggingFaceTB/SmolLM2-135M-Instruct" and front["license"] == "apache-2.0"
    assert "| RoPE theta | the starting checkpoint's |" in card and "| books_1k | 30% |" in card
