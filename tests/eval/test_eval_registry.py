"""The task registry resolves every task the params name, and the paper's vocabulary has one home."""

from __future__ import annotations

import pytest

from prolong import paths
from prolong.config import ConfigError, read_yaml
from prolong.eval import categories as C
from prolong.eval.config import EvalConfig
from prolong.eval.tasks.registry import TASKS, get_task

EVAL_PARAMS = sorted(paths.PARAMS_DIR.glob("*/eval*.yaml"))


def test_eval_params_exist():
    assert {p.parent.name for p in EVAL_PARAMS} >= {"tiny", "paper"}


@pytest.mark.parametrize("path", EVAL_PARAMS, ids=lambda p: f"{p.parent.name}/{p.name}")
def test_every_params_task_resolves_through_the_registry(path):
    cfg = EvalConfig.from_yaml(path)
    for name in cfg.tasks:
        task = get_task(name)
        assert task.name == name
        assert (task.build is None) != (task.evaluate is None)
    for cat, datasets in cfg.categories.items():  # categories average registered datasets of that category
        assert cat in C.CATEGORIES
        # a dataset of its own category; the tiny Recall also averages in the passkey NIAH (params/tiny/eval.yaml)
        assert all(get_task(d).category == cat or (cat == C.HELMET_ORDER[0] and get_task(d).category == C.NIAH)
                   for d in datasets), (cat, datasets)
    assert read_yaml(path)["tasks"] == cfg.tasks


def test_registry_categories_come_from_the_one_home():
    allowed = set(C.HELMET_ORDER) | {C.NIAH, C.PPL, C.SHORT}
    assert {t.category for t in TASKS.values()} == allowed
    assert C.HELMET_ORDER == C.CATEGORIES + [C.CITE]  # the paper's six columns, then HELMET's seventh
    assert list(C.PROLONG_CATEGORIES) == C.CATEGORIES and list(C.HELMET_CATEGORIES) == C.HELMET_ORDER
    assert C.CATEGORY_PRESETS == {"helmet": C.HELMET_CATEGORIES, "prolong": C.PROLONG_CATEGORIES}
    for table in (C.PROLONG_CATEGORIES, C.HELMET_CATEGORIES):
        for cat, datasets in table.items():
            assert all(TASKS[d].category == cat for d in datasets)
    short = {n: t.column for n, t in TASKS.items() if t.category == C.SHORT}
    assert short == C.SHORT_TASKS
    assert C.SHORT_COLUMNS == ["HellaSwag", "MMLU", "ARC-c", "WinoGrande", "GSM8K"]
    assert TASKS["ppl"].column == C.PPL
    # every HELMET dataset the registry knows belongs to one of HELMET's categories (NIAH apart)
    long = {n for n, t in TASKS.items() if t.build is not None and t.category in C.HELMET_ORDER}
    assert long == {d for ds in C.HELMET_CATEGORIES.values() for d in ds}


def test_membership_has_one_source():
    """A task module cannot register a dataset under a HELMET category that categories.py does not list."""
    from prolong.eval.tasks.registry import check_complete, register

    with pytest.raises(ValueError, match="HELMET_CATEGORIES"):
        register("not_a_helmet_dataset", C.RAG)(lambda *a: None)
    assert "not_a_helmet_dataset" not in TASKS
    check_complete()


def test_report_uses_the_same_vocabulary():
    from prolong.report import figures, tables

    assert tables.CATEGORIES is C.CATEGORIES and figures.CATEGORIES is C.CATEGORIES
    assert tables.SHORT_COLUMNS is C.SHORT_COLUMNS


def test_unknown_task_is_a_config_error():
    with pytest.raises(ConfigError, match="unknown task 'nope'"):
        EvalConfig(tasks=["json_kv", "nope"])
    with pytest.raises(KeyError, match="unknown task"):
        get_task("nope")


def test_eval_imports_have_no_cycle_and_no_arrow_to_report():
    """config -> tasks.registry -> task modules; none imports config, runner or report back (no lazy workaround)."""
    import ast

    eval_dir = paths.REPO_ROOT / "prolong" / "eval"
    for f in eval_dir.rglob("*.py"):
        tree = ast.parse(f.read_text())
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and node.module:
                assert not node.module.startswith("prolong.report"), f"{f}: imports {node.module}"
        if f.parent.name == "tasks" or f.name in ("config.py", "categories.py"):
            top = {n.module for n in tree.body if isinstance(n, ast.ImportFrom)}
            assert "prolong.eval.runner" not in top, f
            nested = [n for fn in ast.walk(tree) if isinstance(fn, ast.FunctionDef) for n in ast.walk(fn)
                      if isinstance(n, ast.ImportFrom) and (n.module or "").startswith("prolong.eval")]
            assert not nested, f"{f}: function-level import of {nested[0].module}"
