"""One damaged run never hides the others: it is skipped with one warning naming the file and why (strict: an error),
and `prolong report` still writes every table."""

import warnings

import pytest

from prolong import cli
from prolong.io import CorruptFileError
from prolong.run_table import load_runs, runs_table
from prolong.runs import DamagedRunWarning, Run, append_index

EVAL = {"model": "train/stage1", "eval": {"tasks": ["json_kv"]}}


def _arm(root, name, recall, label=None):
    run = Run.open("eval", name, {**EVAL, "name": name}, root=root)
    run.write_eval("json_kv", 1024, {"args": {}, "data": [], "averaged_metrics": {"substring_exact_match": recall}})
    run.write_scores({"Recall": recall, "Avg": recall / 2})
    run.set_status("done")
    append_index({"experiment": "T04", "arm": name, "seed": 0, "label": label or name.title(), "eval": run.ref}, root)
    return run


def _labels(table):
    return sorted(set(table[table.metric == "Recall"].label))


def _one_warning(record, *needles):
    messages = [str(w.message) for w in record if issubclass(w.category, DamagedRunWarning)]
    assert len(messages) == 1, messages
    for needle in needles:
        assert needle in messages[0], messages[0]
    return messages[0]


def test_truncated_eval_json_skips_that_run_only(tmp_path):
    _arm(tmp_path, "books", 40.0)
    bad = _arm(tmp_path, "arxiv", 30.0)
    path = bad.path / "eval" / "json_kv__1024.json"
    path.write_text(path.read_text()[:25])  # a copy cut short
    with pytest.warns(DamagedRunWarning) as record:
        table = runs_table(tmp_path)
    _one_warning(record, str(path), "corrupt JSON", "skipped run eval/arxiv")
    assert _labels(table) == ["Books"]
    with pytest.raises(CorruptFileError, match="json_kv__1024.json: corrupt JSON"):
        runs_table(tmp_path, strict=True)


def test_status_without_key_names_the_file(tmp_path):
    _arm(tmp_path, "books", 40.0)
    bad = _arm(tmp_path, "arxiv", 30.0)
    (bad.path / "status.json").write_text('{"updated": "now"}')
    with pytest.raises(CorruptFileError, match=r"arxiv/status\.json: no 'status' key"):
        bad.status()
    with pytest.warns(DamagedRunWarning) as record:
        table = runs_table(tmp_path)
    _one_warning(record, "status.json", "no 'status' key")
    assert _labels(table) == ["Books"]


def test_damaged_run_shared_by_two_arms_warns_once_and_bad_index_lines_are_skipped(tmp_path):
    good = _arm(tmp_path, "books", 40.0)
    bad = _arm(tmp_path, "arxiv", 30.0)
    append_index({"experiment": "T04", "arm": "arxiv2", "seed": 0, "label": "ArXiv 2", "eval": bad.ref}, tmp_path)
    (bad.path / "scores.json").write_text('{"Recall": "high"}')
    with open(tmp_path / "index.jsonl", "a") as f:
        f.write('{"experiment": "T04", "arm": \n')  # a line cut in the middle, then one more good line
        f.write('{"experiment": "T04", "seed": 0, "label": "no arm"}\n')
    append_index({"experiment": "T04", "arm": "again", "seed": 0, "label": "Again", "eval": good.ref}, tmp_path)
    with pytest.warns(DamagedRunWarning) as record:
        table = runs_table(tmp_path)
    messages = [str(w.message) for w in record]
    assert len(messages) == 3, messages
    assert sum("score 'Recall' is 'high'" in m for m in messages) == 1
    assert any("index.jsonl:4: corrupt JSON line" in m for m in messages)
    assert any("index.jsonl:5: index row without 'arm'" in m for m in messages)
    assert _labels(table) == ["Again", "Books"]


def test_strict_from_the_environment(tmp_path, monkeypatch):
    bad = _arm(tmp_path, "arxiv", 30.0)
    (bad.path / "status.json").write_text("[]")
    monkeypatch.setenv("PROLONG_STRICT", "1")
    with pytest.raises(CorruptFileError, match="status.json"):
        load_runs(["runs"], runs_root=tmp_path)


def test_report_writes_every_table_despite_a_damaged_run(isolated_store, capsys):
    from prolong import paths

    _arm(paths.runs_dir(), "books", 40.0, "Books")
    bad = _arm(paths.runs_dir(), "arxiv", 30.0, "ArXiv")
    (bad.path / "eval" / "json_kv__1024.json").write_text("{")
    with warnings.catch_warnings():
        warnings.simplefilter("always")
        assert cli.main(["report", "--tables", "T04", "T01"]) == 0
    out = capsys.readouterr()
    assert "json_kv__1024.json" in out.err and f"under {paths.figures_dir()}" in out.out
    tables = paths.figures_dir() / "tables"
    assert (tables / "T01.csv").is_file() and "Books" in (tables / "T04.runs.csv").read_text()
    assert "ArXiv" not in (tables / "T04.runs.csv").read_text()
    # --strict turns the warning into an error line with exit 2, naming the file
    assert cli.main(["report", "--tables", "T04", "--strict"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and "json_kv__1024.json: corrupt JSON" in err and "Traceback" not in err
