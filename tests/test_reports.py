"""The HTML reports of `prolong reproduce`: a stand-in notebook run through the same code path (papermill on the
project's kernel, stamp, scrub, render, index) comes out without stderr output or absolute paths."""

from __future__ import annotations

import nbformat
import pytest

from prolong import batch, paths
from prolong.experiments.run_log import RunLog
from prolong.report.html import scrub_text, stamp, write_index
from tests.helpers.markers import integration
from tests.helpers.reports import STDERR_MIME, assert_clean_report

# What used to put a stderr block (or a path) into a report: tqdm.auto in a kernel without ipywidgets, the per-stage
# lines of the experiment runner, a printed path of the repository, a path in a displayed table.
STAND_IN_CELLS = [
    "# Stand-in\n\nA section notebook in miniature.",
    'steps: int = 0  # steps of each stage\nlabel: str = "x"  # a label',
    "import sys\nsys.modules['ipywidgets'] = None  # as in a kernel without ipywidgets\n"
    "import prolong\nfrom tqdm.auto import tqdm\nfor _ in tqdm(range(3), disable=True): pass",
    "from prolong.experiments.run_log import RunLog\nlog = RunLog()\n"
    "for line in ['T04/books-s0: Books', '  + train/stage1-0123456789 (12s)', '  = eval/m-0123456789 (logged)',"
    " 'T04/code-s0: indexed, skipped']: log(line)\nlog.show()",
    "from prolong import paths\nprint('figures in', paths.figures_dir() / 'T04.png', 'steps', steps)",
]


def _stand_in(folder):
    nb = nbformat.v4.new_notebook(metadata={"kernelspec": {"name": "prolong", "language": "python",
                                                          "display_name": "prolong (.venv)"},
                                            "language_info": {"name": "python"}})
    for i, src in enumerate(STAND_IN_CELLS):
        cell = nbformat.v4.new_markdown_cell(src) if i == 0 else nbformat.v4.new_code_cell(src)
        if i == 1:
            cell.metadata["tags"] = ["parameters"]
        nb.cells.append(cell)
    path = folder / "notebooks" / "01_standin.ipynb"
    path.parent.mkdir(parents=True)
    nbformat.write(nb, str(path))
    (folder / "params" / "tiny" / "notebooks").mkdir(parents=True)
    (folder / "params" / "tiny" / "notebooks" / "01_standin.yaml").write_text("steps: 3\n")
    return path


@integration
def test_executed_stand_in_report_has_no_stderr_nor_machine_paths(tmp_path, monkeypatch, capfd):
    notebook = _stand_in(tmp_path)
    monkeypatch.setattr(paths, "NOTEBOOKS_DIR", notebook.parent)
    monkeypatch.setattr(paths, "PARAMS_DIR", tmp_path / "params")
    build = tmp_path / "build"
    result = batch.run_notebook(notebook, "tiny", build, {"steps": 5})
    assert result.ok, result.error
    assert "without encryption" not in capfd.readouterr().err  # the kernel talks over IPC: no TCP warning
    executed = nbformat.read(str(build / "notebooks" / notebook.name), as_version=4)
    streams = [o for c in executed.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "stream"]
    assert [o.name for o in streams] == ["stdout"], streams  # the print; nothing on stderr
    assert "figures in &lt;figures&gt;/T04.png steps 5" in (build / "html" / "01_standin.html").read_text()
    # provenance: the commit and the parameters (the file's, then -p's) it ran with
    meta = executed.metadata["prolong"]
    assert meta["parameters"] == {"steps": 5} and len(meta["commit"]) in (40, 7)
    assert "with parameters" in executed.cells[1].source and '"steps": 5' in executed.cells[1].source
    html = (build / "html" / "01_standin.html").read_text()
    assert_clean_report(html, "stand-in")
    [log_cell] = [c for c in executed.cells if "RunLog()" in c.source]
    [shown] = [o.data["text/markdown"] for o in log_cell.outputs]  # one table, displayed
    assert "| T04/books-s0 | train/stage1-0123456789 | 12s | trained |" in shown and ">trained</td>" in html
    index = write_index(build, {"01_standin": "ok"}).read_text()
    assert 'href="01_standin.html"' in index and "Stand-in" in index and "Findings" in index


def test_scrub_replaces_the_machine_folders():
    text = f"{paths.REPO_ROOT}/figures/T04.png {paths.runs_dir()}/train/x"
    assert scrub_text(text) == "figures/T04.png <runs>/train/x" or scrub_text(text) == "figures/T04.png runs/train/x"


def test_stamp_records_commit_and_parameters_once():
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# T"), nbformat.v4.new_code_cell("1")])
    for _ in range(2):
        nb = stamp(nb, "tiny", {"steps": 40}, "prolong reproduce --notebooks 02 -p steps 40")
    assert len(nb.cells) == 3 and nb.metadata["prolong"]["parameters"] == {"steps": 40}
    assert "-p steps 40" in nb.cells[1].source


def test_run_log_collapses_to_a_table():
    log = RunLog()
    for line in ["T04/books-s0: Books", "  + train/stage1-0123456789 (12s)", "  + eval/m-0123456789 (3s)",
                 "  = train/base-0123456789 (logged)", "T04/code-s0: indexed, skipped", "something else"]:
        log(line)
    md = log.markdown()
    assert "| T04/books-s0 | train/stage1-0123456789 | 12s | trained |" in md
    assert "| T04/books-s0 | eval/m-0123456789 | 3s | evaluated |" in md
    assert "| T04/books-s0 | train/base-0123456789 |  | skipped (logged) |" in md
    assert "| T04/code-s0 | (all stages) |  | skipped (indexed) |" in md
    assert "- something else" in md and "2 runs here, 15s" in md


def test_index_links_reports_figures_and_findings(tmp_path):
    build = tmp_path / "build"
    (build / "html").mkdir(parents=True)
    (build / "html" / "02_long.html").write_text("<html></html>")
    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell("# Section 3 — Long data")])
    nb.metadata["papermill"] = {"parameters": {"tables": ["T04"], "figures": ["fig3"]}}
    (build / "notebooks").mkdir()
    nbformat.write(nb, str(build / "notebooks" / "02_long.ipynb"))
    figures = paths.figures_dir()
    figures.mkdir(parents=True, exist_ok=True)
    (figures / "T04.png").write_bytes(b"png")
    (figures / "findings.md").write_text("| finding | verdict |\n|:---|:---|\n| 1 | holds |\n")
    index = write_index(build).read_text()
    assert 'href="02_long.html"' in index and "Section 3 — Long data" in index
    assert "T04.png" in index and "fig3.png" not in index  # only figures that exist
    assert ">holds</td>" in index
    assert_clean_report(index, "index")


def test_reproduce_rejects_an_undeclared_p_parameter_before_running(tmp_path, monkeypatch):
    from prolong.config import ConfigError

    monkeypatch.setattr(batch, "build_tiny", lambda: pytest.fail("ran before validating"))
    with pytest.raises(ConfigError, match=r"-p: unknown parameter 'stepz' for notebook 02_long_context_data"):
        batch.reproduce("tiny", ["02"], overrides={"stepz": 40})
    with pytest.raises(ConfigError, match=r"-p: steps: expected int"):
        batch.reproduce("tiny", ["02"], overrides={"steps": "forty"})


def test_stderr_mark_is_what_nbconvert_writes():
    from nbconvert import HTMLExporter

    nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell("x", outputs=[
        nbformat.v4.new_output("stream", name="stderr", text="warning")])])
    assert STDERR_MIME in HTMLExporter().from_notebook_node(nb)[0]
