"""The run store: atomic writes, resume checks, loading many runs as one tidy table, clear errors."""

import json
import os

import pytest

from prolong.io import CorruptFileError, atomic_write_text, iter_jsonl
from prolong.runs import Run, RunMismatchError, TIDY_COLUMNS, load_runs, runs_table

PARAMS = {"label": "Books", "train": {"lr": 1e-5, "steps": 10}}


def _finished_run(root, name="books", params=PARAMS, scores=None):
    run = Run.open("T04", name, params, root=root)
    run.log_step({"step": 1, "loss": 3.0})
    run.write_eval("json_kv", 1024, {"args": {}, "data": [], "averaged_metrics": {"substring_exact_match": 87.5}})
    run.write_scores(scores or {"Recall": 87.5, "Avg": 50.0})
    run.set_status("done")
    return run


def test_layout_and_tidy_table(tmp_path):
    run = _finished_run(tmp_path)
    for name in ("run.json", "params.yaml", "status.json", "train_log.jsonl", "scores.json", "eval/json_kv__1024.json"):
        assert (run.path / name).is_file(), name
    table = runs_table(tmp_path)
    assert list(table.columns) == TIDY_COLUMNS
    recall = table[(table.metric == "Recall")].iloc[0]
    assert (recall.source, recall.experiment, recall.run, recall.label, recall.value) == ("runs", "T04", "books", "Books", 87.5)
    kv = table[table.dataset == "json_kv"].iloc[0]
    assert (kv.length, kv.metric, kv.value) == (1024, "substring_exact_match", 87.5)


def test_unfinished_runs_are_left_out_unless_asked(tmp_path):
    Run.open("T04", "running", PARAMS, root=tmp_path).write_scores({"Recall": 1.0})
    assert runs_table(tmp_path).empty
    assert len(runs_table(tmp_path, include_unfinished=True)) == 1


def test_paper_and_runs_load_as_one_table(tmp_path):
    _finished_run(tmp_path)
    tidy = load_runs(["paper", str(tmp_path)], experiments=["T04"])
    assert set(tidy.source) == {"paper", tmp_path.name}
    paper = tidy[(tidy.source == "paper") & (tidy.run == "Books") & (tidy.metric == "Recall")]
    assert paper.value.item() == 94.9 and paper.display.item() == "94.9"


def test_reopen_with_same_params_resumes_other_params_refused(tmp_path):
    run = Run.open("T04", "books", PARAMS, root=tmp_path)
    run.log_step({"step": 1, "loss": 2.0})
    same = Run.open("T04", "books", {"train": {"steps": 10, "lr": 1e-5}, "label": "Books"}, root=tmp_path)
    assert same.path == run.path
    before = (run.path / "params.yaml").read_text()
    with pytest.raises(RunMismatchError, match=r"params\.yaml.*'train\.lr' was 1e-05, now 2e-05"):
        Run.open("T04", "books", {"label": "Books", "train": {"lr": 2e-5, "steps": 10}}, root=tmp_path)
    assert (run.path / "params.yaml").read_text() == before  # nothing touched


def test_truncate_log_for_resume(tmp_path):
    run = Run.open("T04", "books", PARAMS, root=tmp_path)
    for step in range(1, 6):
        run.log_step({"step": step, "loss": 1.0 / step})
    run.truncate_log(3)
    assert [r["step"] for r in iter_jsonl(run.path / "train_log.jsonl")] == [1, 2, 3]


def test_atomic_write_leaves_old_file_on_crash(tmp_path, monkeypatch):
    target = tmp_path / "scores.json"
    atomic_write_text(target, '{"a": 1}')

    def boom(*_a, **_k):
        raise OSError("disk full")

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(OSError):
        atomic_write_text(target, '{"a": 2, "partial')
    assert json.loads(target.read_text()) == {"a": 1}
    assert [p.name for p in tmp_path.iterdir()] == ["scores.json"]  # no temp file left behind


def test_torn_log_tail_is_skipped_but_corrupt_middle_line_is_an_error(tmp_path):
    log = tmp_path / "train_log.jsonl"
    log.write_text('{"step": 1}\n{"step": 2}\n{"step": 3, "lo')
    assert [r["step"] for r in iter_jsonl(log)] == [1, 2]
    log.write_text('{"step": 1}\nnot json\n{"step": 3}\n')
    with pytest.raises(CorruptFileError, match=r"train_log\.jsonl:2: corrupt JSON line"):
        list(iter_jsonl(log))


def test_corrupt_or_missing_result_files_name_the_file(tmp_path):
    run = _finished_run(tmp_path)
    (run.path / "scores.json").write_text("{broken")
    with pytest.raises(CorruptFileError, match=r"scores\.json: corrupt JSON"):
        runs_table(tmp_path)
    (run.path / "scores.json").write_text("{}")
    (run.path / "eval" / "json_kv__1024.json").write_text('{"args": {}}')
    with pytest.raises(CorruptFileError, match=r"json_kv__1024\.json: missing 'averaged_metrics'"):
        runs_table(tmp_path)
    with pytest.raises(FileNotFoundError, match="run source not found"):
        load_runs([str(tmp_path / "elsewhere")])


def test_bad_names_and_status():
    with pytest.raises(ValueError, match="invalid run name"):
        Run.open("T04", "a/b", {})
    run = Run.open("T04", "ok", {})
    with pytest.raises(ValueError, match="status must be one of"):
        run.set_status("finished")
