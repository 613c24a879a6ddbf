"""Notebook parameters are validated against each notebook's parameters cell, and every notebook runs in papermill."""

import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from prolong import batch, paths
from prolong.config import ConfigError
from prolong.notebook_params import declared_parameters, load_params, validate
from tests.helpers.markers import integration
from tests.helpers.reports import assert_clean_report

NOTEBOOKS = sorted(paths.NOTEBOOKS_DIR.glob("[0-9][0-9]_*.ipynb"))


def test_one_notebook_per_paper_section():
    assert [nb.stem for nb in NOTEBOOKS] == ["01_evaluation", "02_long_context_data", "03_scaling_length", "04_sft",
                                              "05_prolong", "06_appendix"]


@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebooks_committed_clean_with_annotated_parameters(notebook):
    nb = nbformat.read(str(notebook), as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None, f"{notebook.name} has outputs"
    declared = declared_parameters(notebook)
    assert declared and all(p.meaning for p in declared.values())


@pytest.mark.parametrize("scale", ["tiny", "paper"])
@pytest.mark.parametrize("notebook", NOTEBOOKS, ids=lambda p: p.stem)
def test_shipped_params_files_validate(notebook, scale):
    params_file = paths.PARAMS_DIR / scale / "notebooks" / f"{notebook.stem}.yaml"
    assert params_file.is_file()
    assert load_params(notebook, params_file)["scale"] == scale


def test_unknown_or_mistyped_parameter_names_key_and_file(tmp_path):
    nb = NOTEBOOKS[0]
    bad = tmp_path / "01.yaml"
    bad.write_text("scale: tiny\ntabels: [T01]\n")
    with pytest.raises(ConfigError, match=r"01\.yaml: unknown parameter 'tabels' for notebook 01_evaluation"):
        load_params(nb, bad)
    with pytest.raises(ConfigError, match=r"x\.yaml: scale: expected str"):
        validate(nb, {"scale": 3}, "x.yaml")


def test_parameters_cell_rejects_derived_values(tmp_path):
    nb = nbformat.read(str(NOTEBOOKS[0]), as_version=4)
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    cell.source += 'n_tables: int = len(tables)  # derived\n'
    path = tmp_path / "01_bad.ipynb"
    nbformat.write(nb, str(path))
    with pytest.raises(ConfigError, match="must be a literal"):
        declared_parameters(path)


@integration
def test_batch_runs_every_notebook_and_reports_a_failing_one(tmp_path, monkeypatch):
    """A papermill smoke run of every notebook, plus one broken notebook that must be named with its cell."""
    nb_dir = tmp_path / "notebooks"
    shutil.copytree(paths.NOTEBOOKS_DIR, nb_dir)
    broken = nbformat.read(str(nb_dir / "03_scaling_length.ipynb"), as_version=4)
    broken.cells.append(nbformat.v4.new_code_cell("raise RuntimeError('deliberate failure')"))
    nbformat.write(broken, str(nb_dir / "07_broken.ipynb"))
    monkeypatch.setattr(paths, "NOTEBOOKS_DIR", nb_dir)
    # the tiny params without rerunning experiments (tests/test_experiments.py runs the pipeline at smoke size)
    params_dir = tmp_path / "params"
    shutil.copytree(paths.PARAMS_DIR, params_dir)
    for f in (params_dir / "tiny" / "notebooks").glob("*.yaml"):
        f.write_text(f.read_text() + "run_experiments: false\n")
    (params_dir / "tiny" / "notebooks" / "07_broken.yaml").write_text("scale: tiny\nrun_experiments: false\n")
    monkeypatch.setattr(paths, "PARAMS_DIR", params_dir)

    results = {r.notebook: r for r in batch.reproduce("tiny", build=tmp_path / "build")}
    assert [name for name, r in results.items() if r.ok] == [nb.stem for nb in NOTEBOOKS]
    assert not results["07_broken"].ok
    assert re.fullmatch(r"cell \[\d+\]: RuntimeError: deliberate failure", results["07_broken"].error)
    for nb in NOTEBOOKS:  # reports a person reads: no stderr block, nothing of this machine's paths
        report = (tmp_path / "build" / "html" / f"{nb.stem}.html").read_text()
        assert_clean_report(report, nb.stem)
    index = (tmp_path / "build" / "html" / "index.html").read_text()
    assert all(f'href="{nb.stem}.html"' in index for nb in NOTEBOOKS)
    figures = paths.figures_dir()
    for table_id in ("T01", "T04", "T07", "T08", "T10", "T15"):
        assert (figures / "tables" / f"{table_id}.csv").read_bytes() == \
            (paths.PAPER_RESULTS_DIR / f"{table_id}.csv").read_bytes()
    executed = json.loads((tmp_path / "build" / "notebooks" / "04_sft.ipynb").read_text())
    assert any(c.get("outputs") for c in executed["cells"] if c["cell_type"] == "code")


def test_batch_passes_cli_parameters_to_every_notebook(tmp_path, monkeypatch):
    """`prolong reproduce -p seeds '[3, 4, 5]'` reaches each notebook's parameters (papermill stubbed: no kernel)."""
    import papermill

    seen = {}

    def fake_execute(source, output, parameters, **kw):
        seen[Path(source).stem] = parameters
        raise RuntimeError("stop here")  # nothing executed: the batch reports it and goes on

    monkeypatch.setattr(papermill, "execute_notebook", fake_execute)
    monkeypatch.setattr(batch, "ensure_kernel", lambda: "prolong")
    monkeypatch.setattr(batch, "build_tiny", lambda: None)
    monkeypatch.setattr(batch, "write_index", lambda build, status: build / "index.html")
    batch.reproduce("tiny", ["01"], build=tmp_path / "build", overrides={"seeds": [3, 4, 5]})
    assert seen and all(p["seeds"] == [3, 4, 5] for p in seen.values())


def test_cli_reproduce_exit_code(monkeypatch, capsys):
    from prolong import cli

    monkeypatch.setattr(batch, "reproduce",
                        lambda scale, sel, **kw: [batch.NotebookResult("01_x", False, 1.0, "cell [2]: E: x")])
    assert cli.main(["reproduce"]) == 1
    assert "FAILED 01_x: cell [2]" in capsys.readouterr().err


def test_missing_params_file_is_an_error_naming_the_path(tmp_path, monkeypatch):
    """It used to run the notebook on its defaults (training included) without a word."""
    nb = NOTEBOOKS[0]
    missing = tmp_path / "params" / f"{nb.stem}.yaml"
    with pytest.raises(ConfigError, match=rf"{missing}: params file of notebook {nb.name} not found"):
        load_params(nb, missing)
    monkeypatch.setattr(paths, "PARAMS_DIR", tmp_path / "params")
    result = batch.run_notebook(nb, "nowhere", tmp_path / "build")
    assert not result.ok and "params file of notebook" in result.error
    assert not (tmp_path / "build" / "notebooks").exists()  # nothing ran
