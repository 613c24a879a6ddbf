"""Every published table is regenerated exactly (same columns, rows, strings); figures are deterministic."""

import pytest

from prolong import paths
from prolong.report import TABLES, render_all
from prolong.report.tables import FIGURE_TABLES, Outputs
from prolong.results import published_ids
from prolong.run_table import load_runs
from prolong.runs import Run, append_index

REQUIRED = [f"T{n:02d}" for n in [*range(1, 9), *range(10, 16), *range(18, 27)]]


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp("figures")
    out = Outputs(out_dir / "tables", out_dir)
    render_all(load_runs(["paper"]), out=out)
    return out_dir


def test_every_required_table_has_a_report_function():
    assert sorted(TABLES) == REQUIRED
    assert set(published_ids()) == set(REQUIRED)


@pytest.mark.parametrize("table_id", REQUIRED)
def test_table_equals_published_csv(rendered, table_id):
    published = (paths.REPO_ROOT / "results" / "paper" / f"{table_id}.csv").read_bytes()
    assert (rendered / "tables" / f"{table_id}.csv").read_bytes() == published
    md = (rendered / "tables" / f"{table_id}.md").read_text()
    assert md.count("\n|") == published.decode().count("\n") + 1  # header, rule, one line per row


def test_shipped_tables_equal_the_shared_paper_tables():
    shared = paths.REPO_ROOT.parent / "shared" / "paper" / "tables"
    if not shared.is_dir():
        pytest.skip("the shared paper folder is not beside this checkout")
    for table_id in REQUIRED:
        assert (shared / f"{table_id}.csv").read_bytes() == (paths.PAPER_RESULTS_DIR / f"{table_id}.csv").read_bytes()
    for doc in ("PAPER.md", "HELMET.md"):  # the shipped copies the params tests read
        assert (shared.parent / doc).read_bytes() == (paths.REPO_ROOT / "docs" / "paper" / doc).read_bytes()


def test_figures_drawn_and_deterministic(rendered, tmp_path):
    for table_id in FIGURE_TABLES:
        assert (rendered / f"{table_id}.png").stat().st_size > 10_000
    again = Outputs(tmp_path / "tables", tmp_path)
    render_all(load_runs(["paper"]), ["T04", "T11"], out=again)
    for table_id in ("T04", "T11"):
        assert (tmp_path / f"{table_id}.png").read_bytes() == (rendered / f"{table_id}.png").read_bytes()


def test_user_runs_render_beside_the_paper(tmp_path):
    for label, recall in [("Books", 40.0), ("Code Repos", 55.25)]:
        arm = label.replace(" ", "_").lower()
        run = Run.open("eval", arm, {"model": arm})
        run.write_scores({"Recall": recall, "Avg": recall / 2})
        run.set_status("done")
        append_index({"experiment": "T04", "arm": arm, "seed": 0, "label": label, "eval": run.ref})
    out = Outputs(tmp_path / "tables", tmp_path)
    render_all(load_runs(["paper", "runs"]), ["T04"], out=out)
    lines = (tmp_path / "tables" / "T04.runs.csv").read_text().splitlines()
    assert lines[0].startswith("long_data,Recall,RAG")
    assert lines[0].endswith(",seeds,Recall SE,RAG SE,Re-rank SE,ICL SE,QA SE,Summ SE,Avg SE,Short Avg SE")
    assert lines[1] == "Books,40.0,,,,,,20.0,,1,,,,,,,,"         # one seed: no standard errors
    assert lines[2] == "Code Repos,55.2,,,,,,27.6,,1,,,,,,,,"
    assert (tmp_path / "tables" / "T04.csv").read_bytes() == (paths.PAPER_RESULTS_DIR / "T04.csv").read_bytes()
