"""Shipped runs (prolong.experiments.shipped): restored only under their own run name and tokenizer."""

from __future__ import annotations

import pytest

from prolong.data.tokenizer import train_byte_bpe
from prolong.experiments.shipped import restore_shipped, ship
from prolong.runs import MODEL_DIR, Run


def _tokenizer(path, text):
    train_byte_bpe([text] * 50, path, vocab_size=300)
    return str(path)


@pytest.fixture
def finished_run(tmp_path):
    tok = _tokenizer(tmp_path / "tok", "the pass key is 12345. remember it.")
    params = {"name": "base-0123456789", "data": {"tokenizer": tok}}
    run = Run.open("train", "base-0123456789", params)
    (run.path / MODEL_DIR).mkdir()
    (run.path / MODEL_DIR / "model.safetensors").write_bytes(b"weights")
    run.log_step({"step": 1, "loss": 2.0})
    run.set_status("done")
    return run, params, tmp_path


def test_ship_then_restore_into_an_empty_store(finished_run, tmp_path, monkeypatch):
    run, params, _ = finished_run
    shipped = ship(run.ref, root=tmp_path / "shipped")
    assert not (shipped / "checkpoints").exists() and (shipped / "shipped.json").is_file()
    monkeypatch.setenv("PROLONG_RUNS", str(tmp_path / "fresh"))
    lines = []
    assert restore_shipped(run.ref, params, lines.append, root=tmp_path / "shipped")
    restored = Run.at(run.ref)
    assert restored.is_done() and (restored.path / MODEL_DIR / "model.safetensors").read_bytes() == b"weights"
    assert "restored" in lines[0]


def test_another_tokenizer_trains_instead(finished_run, tmp_path, monkeypatch):
    run, params, _ = finished_run
    ship(run.ref, root=tmp_path / "shipped")
    other = {**params, "data": {"tokenizer": _tokenizer(tmp_path / "tok2", "a different corpus entirely, 987.")}}
    monkeypatch.setenv("PROLONG_RUNS", str(tmp_path / "fresh"))
    lines = []
    assert not restore_shipped(run.ref, other, lines.append, root=tmp_path / "shipped")
    assert "another tokenizer" in lines[0] and not Run.at(run.ref).path.exists()


def test_nothing_shipped_under_another_name(finished_run, tmp_path):
    run, params, _ = finished_run
    ship(run.ref, root=tmp_path / "shipped")
    assert not restore_shipped("train/base-9999999999", params, print, root=tmp_path / "shipped")


def test_an_unfinished_run_is_not_shipped(tmp_path):
    run = Run.open("train", "base-1111111111", {"name": "base-1111111111", "data": {"tokenizer": "x"}})
    with pytest.raises(FileNotFoundError, match="not a finished training run"):
        ship(run.ref, root=tmp_path / "shipped")
