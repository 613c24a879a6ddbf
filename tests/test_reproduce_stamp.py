"""A second `prolong reproduce` skips the notebooks whose inputs and outputs are unchanged, and only those
(prolong.reproduce_stamp). Papermill is stubbed: the test checks which notebooks the batch executes, not their cells."""

import shutil

import pytest

from prolong import batch, paths


@pytest.fixture
def batch_env(tmp_path, monkeypatch):
    """Two notebooks and their params in a temp project; runs, data and figures in temp folders."""
    nb_dir, params_dir = tmp_path / "notebooks", tmp_path / "params"
    (params_dir / "tiny" / "notebooks").mkdir(parents=True)
    nb_dir.mkdir()
    for stem in ("01_evaluation", "03_scaling_length"):
        shutil.copy(paths.NOTEBOOKS_DIR / f"{stem}.ipynb", nb_dir)
        shutil.copy(paths.PARAMS_DIR / "tiny" / "notebooks" / f"{stem}.yaml", params_dir / "tiny" / "notebooks")
    monkeypatch.setattr(paths, "NOTEBOOKS_DIR", nb_dir)
    monkeypatch.setattr(paths, "PARAMS_DIR", params_dir)
    for name in ("runs", "data", "figures"):
        (tmp_path / name).mkdir()
        monkeypatch.setenv(f"PROLONG_{name.upper()}", str(tmp_path / name))
    (tmp_path / "figures" / "fig1.png").write_bytes(b"png")
    (tmp_path / "runs" / "index.jsonl").write_text("{}\n")
    executed = []

    def fake_execute(source, output, parameters, **kw):
        executed.append(source.split("/")[-1][:2])
        shutil.copy(source, output)

    import papermill
    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    monkeypatch.setattr(batch, "ensure_kernel", lambda: "prolong")
    monkeypatch.setattr(batch, "build_tiny", lambda: None)
    monkeypatch.setattr(batch, "write_report", lambda nb, html: (html.parent.mkdir(parents=True, exist_ok=True), html.write_text("report")))
    monkeypatch.setattr(batch, "write_index", lambda build, status: build / "index.html")

    def run(**kw):
        executed.clear()
        results = batch.reproduce("tiny", build=tmp_path / "build", **kw)
        assert all(r.ok for r in results)
        return list(executed)

    return tmp_path, run


def test_second_call_skips_unchanged_notebooks(batch_env):
    root, run = batch_env
    assert run() == ["01", "03"]
    assert run() == []                                          # nothing changed: nothing executes
    (root / "data" / ".build.lock").write_text("")              # the data build's lock, touched by every call
    assert run() == []
    (root / "runs" / "index.jsonl").write_text("{}\n{}\n")      # a run logged: every notebook reads the store
    assert run() == ["01", "03"]
    assert run(overrides={"seeds": [3, 4, 5]}) == ["01", "03"]  # other parameters
    assert run(overrides={"seeds": [3, 4, 5]}) == []
    assert run(force=True) == ["01", "03"]


def test_changed_outputs_or_notebook_run_again(batch_env):
    root, run = batch_env
    run()
    (root / "figures" / "fig1.png").write_bytes(b"edited")      # a figure changed by hand: all run again
    assert run() == ["01", "03"]
    (root / "build" / "html" / "03_scaling_length.html").unlink()
    assert run() == ["03"]
    nb = paths.NOTEBOOKS_DIR / "01_evaluation.ipynb"
    nb.write_text(nb.read_text().replace("Figure", "Figure ", 1))
    assert run() == ["01"]
    (root / "build" / "reproduce_stamps.json").write_text("{not json")  # damaged stamps: ignored, all run
    assert run() == ["01", "03"]
