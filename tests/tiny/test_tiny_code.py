"""The tiny code repositories (prolong.tiny.code): a pure function of the seed that never reads the machine's Python
installation, valid Python whose later files use what earlier files define."""

import ast
import builtins
import hashlib
import re
import sys
import sysconfig
from pathlib import Path

from prolong.data.config import TinyCorpusConfig
from prolong.data.sources import REPO_HEADER
from prolong.tiny.code import code_repo_documents
from prolong.tiny.corpus import write_tiny_corpus
from prolong.tiny.world import make_world

CFG = dict(code_total_bytes=400_000, code_repo_bytes=60_000)
_SPLIT = re.compile("(?:^|\n\n)" + re.escape(REPO_HEADER.strip("\n")).replace(r"\{path\}", "(.+?)") + "\n")


def _files(doc: str) -> dict[str, str]:
    parts = _SPLIT.split(doc)
    assert parts[0] == ""
    return dict(zip(parts[1::2], parts[2::2]))


def _build(tmp: Path, seed: int) -> bytes:
    write_tiny_corpus(TinyCorpusConfig(seed=seed, **CFG), tmp, sources=("code_repos",))
    return (tmp / "code_repos.jsonl").read_bytes()


def test_code_repos_are_a_function_of_the_seed_and_never_read_the_python_installation(tmp_path, monkeypatch):
    first = _build(tmp_path / "a", 0)
    install = [Path(p).resolve() for k, p in sysconfig.get_paths().items() if k in ("stdlib", "purelib", "platlib")]
    opened: list[Path] = []
    real_open = builtins.open

    def spy_open(file, *args, **kwargs):
        if isinstance(file, (str, Path)):
            opened.append(Path(file).resolve())
        return real_open(file, *args, **kwargs)

    def refuse(*_, **__):
        raise AssertionError("the tiny corpus must not look up the Python installation")

    monkeypatch.setattr(builtins, "open", spy_open)
    monkeypatch.setattr(sysconfig, "get_paths", refuse)
    monkeypatch.setattr(sysconfig, "get_path", refuse)
    monkeypatch.setattr(sys, "path", [str(Path(__file__).resolve().parents[2])])
    again = _build(tmp_path / "b", 0)
    monkeypatch.undo()
    assert again == first                                                    # same seed: same bytes
    assert opened and all(p.is_relative_to(tmp_path) for p in opened)       # wrote its own files, read nothing
    assert not any(p.is_relative_to(root) for p in opened for root in install)
    other = _build(tmp_path / "c", 1)
    assert other != first                                                    # another seed: another corpus
    assert hashlib.sha256(first).hexdigest() != hashlib.sha256(other).hexdigest()


def test_repo_sizes_spread_under_the_caps():
    docs = [d for _, d in code_repo_documents(1_500_000, 200_000, 0, make_world(0))]
    sizes = sorted(len(d) for d in docs)
    assert 1_500_000 <= sum(sizes) < 1_500_000 + 200_000
    assert sizes[-1] <= 200_000 and sizes[0] >= 4_000                     # ~1K tokens and more: the mixtures' filters
    assert sum(s > 60_000 for s in sizes) >= len(sizes) // 3 and sum(s < 40_000 for s in sizes) >= 2


def test_later_files_use_identifiers_that_earlier_files_define():
    for name, doc in code_repo_documents(400_000, 60_000, 3, make_world(3)):
        files = _files(doc)
        paths = list(files)
        assert paths[0] == f"{name}/__init__.py" and paths[1] == f"{name}/constants.py"
        assert paths[-2] == f"tests/test_{name}.py" and paths[-1] == "README.md"     # tests and README last
        defined: dict[str, int] = {}                  # identifier -> index of the file that defines it
        values: dict[str, object] = {}
        for i, (path, text) in enumerate(files.items()):
            if not path.endswith(".py"):
                continue
            tree = ast.parse(text)                                           # valid Python
            for node in ast.walk(tree):
                if isinstance(node, ast.ImportFrom):
                    for alias in node.names:                # every import names a definition of an earlier file
                        assert defined.get(alias.name, i) < i, (name, path, alias.name)
                        assert node.module == paths[defined[alias.name]][:-3].replace("/", ".")
            for node in tree.body:
                if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
                    defined[node.name] = i
                elif isinstance(node, ast.Assign) and isinstance(node.targets[0], ast.Name):
                    defined[node.targets[0].id] = i
                    values[node.targets[0].id] = ast.literal_eval(node.value)
        test = ast.parse(files[paths[-2]])
        checked = [(n.test.left.id, ast.literal_eval(n.test.comparators[0])) for n in ast.walk(test)
                   if isinstance(n, ast.Assert) and isinstance(n.test, ast.Compare)
                   and isinstance(n.test.left, ast.Name)]
        assert checked and all(values[k] == v for k, v in checked)           # the test quotes constants.py's values
        assert all(defined[k] == 1 for k, _ in checked)
        far = [defined[a.name] for n in ast.walk(test) if isinstance(n, ast.ImportFrom) for a in n.names]
        assert min(far) == 1 and len(set(far)) >= 3                          # reaches back to the first files
        readme = files["README.md"]
        used = re.findall(r"`(\w+)\(", readme)
        assert used and all(u in defined for u in used)
