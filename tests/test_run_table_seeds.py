"""The reports draw the seeds they are asked for: a run store holding seeds 0-5 gives seeds 3-5 alone (the notebooks'
`seeds` parameter), and every seed when none is named."""

from prolong.run_table import load_runs
from prolong.runs import Run, append_index


def _arm(root, seed, recall):
    run = Run.open("eval", f"books-s{seed}", {"model": f"train/stage1-s{seed}", "eval": {}}, root=root)
    run.write_scores({"Recall": recall})
    run.set_status("done")
    append_index({"experiment": "T04", "arm": "books", "seed": seed, "label": "Books", "eval": run.ref}, root)


def test_seeds_filter_the_run_stores_not_the_paper(tmp_path):
    for seed in range(6):
        _arm(tmp_path, seed, 10.0 * seed)
    every = load_runs([str(tmp_path)])
    assert sorted(every[every.metric == "Recall"].value) == [0, 10, 20, 30, 40, 50]
    some = load_runs(["paper", str(tmp_path)], experiments=["T04"], seeds=[3, 4, 5])
    mine = some[some.source == tmp_path.name]
    assert sorted(mine[mine.metric == "Recall"].run) == ["books-s3", "books-s4", "books-s5"]
    assert (some.source == "paper").any()  # the published numbers are not filtered
