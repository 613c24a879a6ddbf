"""Shared fixtures: every test gets its own run store, build and figures folders (never the repo's)."""

from __future__ import annotations

import os

import pytest

from tests.helpers.markers import skip_without_cuda

os.environ.setdefault("PROLONG_QUIET", "1")


def pytest_collection_modifyitems(config, items):
    skip_without_cuda(items)


@pytest.fixture(autouse=True)
def isolated_store(tmp_path_factory, monkeypatch):
    """Point the run store and build folder at temporary folders for every test."""
    root = tmp_path_factory.mktemp("store")
    monkeypatch.setenv("PROLONG_RUNS", str(root / "runs"))
    monkeypatch.setenv("PROLONG_BUILD", str(root / "build"))
    monkeypatch.setenv("PROLONG_FIGURES", str(root / "figures"))
    return root
