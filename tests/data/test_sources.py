"""Reading documents: every supported kind, and errors that name the file, line and key."""

import json

import pytest

from prolong.data.config import SourceConfig
from prolong.data.sources import REPO_HEADER, SourceError, iter_documents
from prolong.io import CorruptFileError


def src(**kw):
    return SourceConfig.from_dict(kw, "corpus.yaml: sources.x")


def test_jsonl_folder_gz_and_text_field(tmp_path):
    import gzip

    (tmp_path / "a.jsonl").write_text(json.dumps({"body": "one"}) + "\n\n" + json.dumps({"body": "two"}) + "\n")
    with gzip.open(tmp_path / "b.jsonl.gz", "wt") as f:
        f.write(json.dumps({"body": "three"}) + "\n")
    assert list(iter_documents(src(kind="jsonl", path=str(tmp_path), text_field="body"))) == ["one", "two", "three"]


def test_jsonl_errors_name_file_line_and_key(tmp_path):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "ok"}\n{"text": broken\n{"text": "after"}\n')
    with pytest.raises(CorruptFileError, match=r"bad.jsonl:2: corrupt JSON line"):
        list(iter_documents(src(kind="jsonl", path=str(bad))))
    nofield = tmp_path / "nofield.jsonl"
    nofield.write_text('{"text": "ok"}\n{"content": "x"}\n')
    with pytest.raises(SourceError, match=r"nofield.jsonl:2: record has no field 'text' \(fields: content\)"):
        list(iter_documents(src(kind="jsonl", path=str(nofield))))
    with pytest.raises(SourceError, match=r"missing.jsonl: source jsonl not found"):
        list(iter_documents(src(kind="jsonl", path=str(tmp_path / "missing.jsonl"))))
    (tmp_path / "empty").mkdir()
    with pytest.raises(SourceError, match=r"empty: source jsonl folder has no files matching '\*.jsonl\*'"):
        list(iter_documents(src(kind="jsonl", path=str(tmp_path / "empty"))))


def test_text_dir_parquet_and_hf_disk(tmp_path):
    import datasets
    import pyarrow as pa
    import pyarrow.parquet as pq

    (tmp_path / "txt" / "sub").mkdir(parents=True)
    (tmp_path / "txt" / "b.txt").write_text("bee")
    (tmp_path / "txt" / "sub" / "a.txt").write_text("ay")
    assert list(iter_documents(src(kind="text_dir", path=str(tmp_path / "txt")))) == ["bee", "ay"]

    pq.write_table(pa.table({"text": ["p1", "p2"], "n": [1, 2]}), tmp_path / "x.parquet")
    assert list(iter_documents(src(kind="parquet", path=str(tmp_path / "x.parquet")))) == ["p1", "p2"]
    with pytest.raises(SourceError, match=r"x.parquet: parquet file has no column 'body'"):
        list(iter_documents(src(kind="parquet", path=str(tmp_path / "x.parquet"), text_field="body")))

    datasets.DatasetDict({"train": datasets.Dataset.from_dict({"text": ["h1", "h2", "h3"]})}).save_to_disk(
        str(tmp_path / "hf"))
    assert list(iter_documents(src(kind="hf_disk", path=str(tmp_path / "hf"), split="train"))) == ["h1", "h2", "h3"]
    with pytest.raises(SourceError, match=r"split 'test' not in the saved DatasetDict"):
        list(iter_documents(src(kind="hf_disk", path=str(tmp_path / "hf"), split="test")))


def test_code_repos_from_folders_and_records(tmp_path):
    for repo, files in {"alpha": {"pkg/__init__.py": "A = 1\n", "pkg/mod.py": "import pkg\n", "README.md": "x"},
                        "beta": {"b.py": "B = 2\n"}}.items():
        for name, text in files.items():
            (tmp_path / "repos" / repo / name).parent.mkdir(parents=True, exist_ok=True)
            (tmp_path / "repos" / repo / name).write_text(text)
    docs = list(iter_documents(src(kind="code_repos", path=str(tmp_path / "repos"))))
    assert docs == [
        REPO_HEADER.format(path="alpha/pkg/__init__.py").lstrip("\n") + "A = 1\n"
        + REPO_HEADER.format(path="alpha/pkg/mod.py") + "import pkg\n",
        REPO_HEADER.format(path="beta/b.py").lstrip("\n") + "B = 2\n"]
    rows = [{"repo": "r1", "path": "a.py", "content": "a"}, {"repo": "r1", "path": "b.py", "content": "b"},
            {"repo": "r2", "path": "c.py", "content": "c"}]
    (tmp_path / "stack.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    docs = list(iter_documents(src(kind="jsonl", path=str(tmp_path / "stack.jsonl"), repo_field="repo",
                                   text_field="content")))
    assert len(docs) == 2 and "# ---- r1/a.py ----\na" in docs[0] and "# ---- r1/b.py ----\nb" in docs[0]


def test_mds_documents_without_streaming(tmp_path):
    """MDS folders are read by prolong.data.mds (no mosaicml-streaming): each source document is a span of `indices`."""
    import numpy as np

    from tests.helpers.mds import PROLONG_COLUMNS, write_mds

    ids = np.arange(10, dtype=np.uint32)
    write_mds(tmp_path / "m", PROLONG_COLUMNS, [{"input_ids": ids, "indices": np.array([[0, 3], [3, 10]], np.uint32)}])
    docs = list(iter_documents(src(kind="mds", path=str(tmp_path / "m"))))
    assert [d.tolist() for d in docs] == [[0, 1, 2], list(range(3, 10))]
    with pytest.raises(SourceError, match=r"nothing/index.json: folder not found"):
        list(iter_documents(src(kind="mds", path=str(tmp_path / "nothing"))))


def test_source_config_is_strict():
    from prolong.config import ConfigError

    with pytest.raises(ConfigError, match=r"corpus.yaml: sources.x: unknown key 'textfield'"):
        src(kind="jsonl", path="x", textfield="t")
    with pytest.raises(ConfigError, match=r"sources.x.kind: 'csv' is not one of"):
        src(kind="csv", path="x")
