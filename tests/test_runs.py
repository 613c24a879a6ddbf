"""The run store: atomic writes, resume checks, the index joined to eval runs as one tidy table, the old layout."""

import json
import os

import pytest

from prolong.io import CorruptFileError, atomic_write_text, iter_jsonl
from prolong.migrate import migrate
from prolong.run_table import load_runs, runs_table
from prolong.runs import OldLayoutError, Run, RunMismatchError, append_index, iter_runs, read_index
from prolong.tidy import TIDY_COLUMNS

PARAMS = {"label": "Books", "train": {"lr": 1e-5, "steps": 10}}
EVAL = {"model": "train/stage1-0123456789", "eval": {"tasks": ["json_kv"]}}


def _eval_run(root, name="stage1-0123456789-abcdef0123", params=EVAL, scores=None):
    run = Run.open("eval", name, params, root=root)
    run.write_eval("json_kv", 1024, {"args": {}, "data": [], "averaged_metrics": {"substring_exact_match": 87.5}})
    run.write_scores(scores or {"Recall": 87.5, "Avg": 50.0})
    run.set_status("done")
    return run


def _index_arm(root, evaluation, arm="books", label="Books", **extra):
    return append_index({"experiment": "T04", "arm": arm, "seed": 0, "label": label, "eval": evaluation.ref,
                         "stages": ["train/base-1111111111", "train/stage1-0123456789"], "own_stages": 1,
                         "scores": {"train_tokens": 4096.0}, **extra}, root)


def test_layout_and_tidy_table_names_the_runs_of_each_cell(tmp_path):
    run = _eval_run(tmp_path)
    assert run.ref == "eval/stage1-0123456789-abcdef0123" and run.path.parent == tmp_path / "eval"
    for name in ("run.json", "params.yaml", "status.json", "scores.json", "eval/json_kv__1024.json"):
        assert (run.path / name).is_file(), name
    assert runs_table(tmp_path).empty  # an evaluation is in the report only through an indexed arm
    _index_arm(tmp_path, run, columns={"Recall": "JsonKV@512K"})
    table = runs_table(tmp_path)
    assert list(table.columns) == TIDY_COLUMNS
    recall = table[(table.metric == "JsonKV@512K")].iloc[0]  # the experiment's column rename
    assert (recall.source, recall.experiment, recall.phase, recall.run, recall.label, recall.value) == (
        "runs", "T04", "final", "books-s0", "Books", 87.5)
    assert recall.runs == run.ref
    tokens = table[table.metric == "train_tokens"].iloc[0]
    assert (tokens.value, tokens.runs) == (4096.0, "train/stage1-0123456789")  # the arm's own stage, not the base
    kv = table[table.dataset == "json_kv"].iloc[0]
    assert (kv.length, kv.metric, kv.value, kv.runs) == (1024, "substring_exact_match", 87.5, run.ref)


def test_index_is_append_only_and_the_last_row_of_an_arm_counts(tmp_path):
    first, second = _eval_run(tmp_path, "a-1"), _eval_run(tmp_path, "a-2", {**EVAL, "n": 2}, {"Recall": 10.0})
    _index_arm(tmp_path, first)
    _index_arm(tmp_path, first, arm="arxiv", label="ArXiv")
    lines = (tmp_path / "index.jsonl").read_text()
    _index_arm(tmp_path, second)  # a rerun of "books" with other runs: appended, nothing rewritten
    assert (tmp_path / "index.jsonl").read_text().startswith(lines)
    rows = read_index(tmp_path)
    assert [(r["arm"], r["eval"]) for r in rows] == [("arxiv", "eval/a-1"), ("books", "eval/a-2")]
    table = runs_table(tmp_path)
    assert table[(table.label == "Books") & (table.metric == "Recall")].value.tolist() == [10.0]


def test_pre_sft_rows_are_a_phase_of_the_same_experiment(tmp_path):
    final, before = _eval_run(tmp_path, "after"), _eval_run(tmp_path, "before", {**EVAL, "pre": 1}, {"PPL": 12.0})
    _index_arm(tmp_path, final, pre_sft_eval=before.ref)
    table = runs_table(tmp_path)
    ppl = table[table.metric == "PPL"]
    assert (ppl.experiment.item(), ppl.phase.item(), ppl.runs.item()) == ("T04", "pre_sft", "eval/before")
    assert set(table.experiment) == {"T04"}


def test_unfinished_eval_named_by_the_index_is_an_error(tmp_path):
    run = Run.open("eval", "running", EVAL, root=tmp_path)
    _index_arm(tmp_path, run)
    with pytest.raises(CorruptFileError, match="names eval/running, which is not a finished run"):
        runs_table(tmp_path, strict=True)


def test_paper_and_runs_load_as_one_table(tmp_path):
    _index_arm(tmp_path, _eval_run(tmp_path))
    tidy = load_runs(["paper", str(tmp_path)], experiments=["T04"])
    assert set(tidy.source) == {"paper", tmp_path.name}
    paper = tidy[(tidy.source == "paper") & (tidy.run == "Books") & (tidy.metric == "Recall")]
    assert paper.value.item() == 94.9 and paper.display.item() == "94.9"
    assert paper.runs.item() == "results/paper/T04.csv" and paper.phase.item() == "final"


def _old_store(root):
    """A run store of the old layout: base -> stage1 -> sft, evaluations, a result run and its pre-SFT twin."""
    def old(folder, name, params, scores=None, evals=False):
        run = Run(root / folder / name)
        run.path.mkdir(parents=True)
        (run.path / "params.yaml").write_text(__import__("yaml").safe_dump(params))
        (run.path / "run.json").write_text(json.dumps({"experiment": folder, "run": name, "created_ns": len(list(
            root.glob("*/*")))}))
        run.set_status("done")
        if scores:
            run.write_scores(scores)
        if evals:
            run.write_eval("json_kv", 1024, {"averaged_metrics": {"substring_exact_match": 80.0}})
        return run

    stage = lambda init: {"experiment": "x", "model": {}, "train": {"init_from": init}}  # noqa: E731
    old("base", "base-aaaaaaaaaa", stage(None))
    old("stage1", "stage1-bbbbbbbbbb", stage("base/base-aaaaaaaaaa"))
    old("sft", "sft-cccccccccc", stage("stage1/stage1-bbbbbbbbbb"))
    old("evals", "sft__sft-cccccccccc-dddddddddd", {"model": "sft/sft-cccccccccc", "eval": {}}, {"Avg": 41.0, "Short Avg": 9.0}, True)
    old("evals", "stage1__stage1-bbbbbbbbbb-eeeeeeeeee", {"model": "stage1/stage1-bbbbbbbbbb", "eval": {"p": 1}}, {"PPL": 7.0})
    arm = {"name": "fineweb", "label": "FineWeb", "stages": [{}], "x": 3.0}
    result = {"label": "FineWeb", "arm": arm, "seed": 0, "stages": ["base/base-aaaaaaaaaa", "stage1/stage1-bbbbbbbbbb"],
              "sft": "sft/sft-cccccccccc"}
    old("T06", "fineweb-s0", {**result, "evaluation": "evals/sft__sft-cccccccccc-dddddddddd"},
        {"Long Avg": 41.0, "Avg": 9.0, "train_tokens": 100.0, "x": 3.0}, True)
    old("T06.pre_sft", "fineweb-s0", {**result, "evaluation": "evals/stage1__stage1-bbbbbbbbbb-eeeeeeeeee"}, {"PPL": 7.0})


def test_old_layout_is_refused_with_the_command_then_migrates(tmp_path):
    _old_store(tmp_path)
    with pytest.raises(OldLayoutError, match=r"old layout \(T06, T06\.pre_sft, base, evals \.\.\.\).*prolong runs migrate"):
        load_runs([str(tmp_path)])
    with pytest.raises(OldLayoutError, match="prolong runs migrate"):
        Run.open("train", "new", {}, root=tmp_path)
    counts = migrate(tmp_path, log=lambda _m: None)
    assert counts == {"train": 3, "eval": 2, "index rows": 1, "result runs set aside": 2}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["eval", "index.jsonl", "migrated-old-layout", "train"]
    trains = {r.name.rsplit("-", 1)[0]: r for r in iter_runs(tmp_path, "train")}
    assert set(trains) == {"base", "stage1", "sft"}
    assert trains["sft"].params()["train"]["init_from"] == trains["stage1"].ref  # references follow the renames
    row = read_index(tmp_path)[0]
    assert row["stages"] == [trains["base"].ref, trains["stage1"].ref] and row["sft"] == trains["sft"].ref
    assert row["columns"] == {"Avg": "Long Avg", "Short Avg": "Avg"}  # from params/tiny/experiments/T06.yaml
    tidy = load_runs([str(tmp_path)])
    scores = tidy[tidy.dataset == ""].set_index(["phase", "metric"])
    assert scores.loc[("final", "Long Avg"), "value"] == 41.0 and scores.loc[("final", "Avg"), "value"] == 9.0
    assert scores.loc[("pre_sft", "PPL"), "value"] == 7.0 and scores.loc[("final", "x"), "value"] == 3.0
    assert scores.loc[("final", "Avg"), "runs"] == row["eval"] and row["eval"].startswith("eval/sft-")


def test_reopen_with_same_params_resumes_other_params_refused(tmp_path):
    run = Run.open("train", "books", PARAMS, root=tmp_path)
    run.log_step({"step": 1, "loss": 2.0})
    same = Run.open("train", "books", {"train": {"steps": 10, "lr": 1e-5}, "label": "Books"}, root=tmp_path)
    assert same.path == run.path
    before = (run.path / "params.yaml").read_text()
    with pytest.raises(RunMismatchError, match=r"params\.yaml.*'train\.lr' was 1e-05, now 2e-05"):
        Run.open("train", "books", {"label": "Books", "train": {"lr": 2e-5, "steps": 10}}, root=tmp_path)
    assert (run.path / "params.yaml").read_text() == before  # nothing touched


def test_truncate_log_for_resume(tmp_path):
    run = Run.open("train", "books", PARAMS, root=tmp_path)
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
    run = _eval_run(tmp_path)
    _index_arm(tmp_path, run)
    (run.path / "scores.json").write_text("{broken")
    with pytest.raises(CorruptFileError, match=r"scores\.json: corrupt JSON"):
        runs_table(tmp_path, strict=True)
    (run.path / "scores.json").write_text("{}")
    (run.path / "eval" / "json_kv__1024.json").write_text('{"args": {}}')
    with pytest.raises(CorruptFileError, match=r"json_kv__1024\.json: missing 'averaged_metrics'"):
        runs_table(tmp_path, strict=True)
    with pytest.raises(FileNotFoundError, match="run source not found"):
        load_runs([str(tmp_path / "elsewhere")])


def test_bad_names_and_status():
    with pytest.raises(ValueError, match="invalid run name"):
        Run.open("train", "a/b", {})
    run = Run.open("train", "ok", {})
    with pytest.raises(ValueError, match="status must be one of"):
        run.set_status("finished")
