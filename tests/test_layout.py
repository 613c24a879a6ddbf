"""The package's shape, checked on its source: no import cycle between modules (not even through a TYPE_CHECKING
block or a package __init__), and nothing in prolong/model (what runs inside the forward) imports the training loop or
the data side."""

from __future__ import annotations

import ast
from pathlib import Path

from prolong import paths

PACKAGE = paths.REPO_ROOT / "prolong"


def _module(path: Path) -> str:
    name = ".".join(path.relative_to(paths.REPO_ROOT).with_suffix("").parts)
    return name.removesuffix(".__init__")


def _imports() -> dict[str, set[str]]:
    """module -> prolong modules it imports, anywhere in the file (TYPE_CHECKING blocks and function bodies too; a
    package's __init__ counts as a module, so a submodule importing from its own package closes a cycle)."""
    modules = {_module(p): p for p in PACKAGE.rglob("*.py")}

    def owner(name: str) -> str | None:
        while name and name not in modules:
            name = name.rpartition(".")[0]
        return name or None

    graph: dict[str, set[str]] = {}
    for mod, path in modules.items():
        deps: set[str] = set()
        for node in ast.walk(ast.parse(path.read_text())):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.module.startswith("prolong"):
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names if a.name.startswith("prolong")]
            for n in names:
                target = owner(n)
                if target and target != mod:
                    deps.add(target)
        graph[mod] = deps
    return graph


def test_model_imports_neither_training_nor_data():
    bad = {(m, d) for m, deps in _imports().items() if m.startswith("prolong.model")
           for d in deps if d.startswith(("prolong.train", "prolong.data"))}
    assert not bad


def test_no_import_cycle():
    graph, cycles = _imports(), []
    state: dict[str, int] = {}  # 1: on the current path, 2: done

    def visit(m: str, path: list[str]) -> None:
        state[m] = 1
        for d in sorted(graph.get(m, ())):
            if state.get(d) == 1:
                cycles.append(path[path.index(d):] + [d] if d in path else [m, d])
            elif d not in state:
                visit(d, path + [d])
        state[m] = 2

    for m in sorted(graph):
        if m not in state:
            visit(m, [m])
    assert not cycles
