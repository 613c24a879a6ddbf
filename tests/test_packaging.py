"""pyproject.toml and environment.yml list the same requirements; the Makefile and CI call what the README shows;
`pip install -e ".[data]"` (the README's first command for the paper scale) resolves on a fresh virtual environment."""

import json
import os
import re
import subprocess
import sys
import tomllib
import urllib.error
import urllib.request

import pytest
import yaml

from prolong import paths
from tests.helpers.markers import integration


def _name(req: str) -> str:
    return re.split(r"[<>=!~\[ ]", req, maxsplit=1)[0].strip().lower()


def test_environment_yml_mirrors_pyproject():
    project = tomllib.loads((paths.REPO_ROOT / "pyproject.toml").read_text())["project"]
    extras = project["optional-dependencies"]
    wanted = {r for r in project["dependencies"] + extras["notebooks"] + extras["dev"]}
    env = yaml.safe_load((paths.REPO_ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict) and "pip" in d)
    listed = {r for r in pip if not r.startswith("-e")}
    assert listed == wanted, f"only in environment.yml: {listed - wanted}; only in pyproject: {wanted - listed}"


def test_makefile_targets_and_ci():
    makefile = (paths.REPO_ROOT / "Makefile").read_text()
    for target in ("reproduce:", "test:", "lab:"):
        assert target in makefile
    assert "torch==2.13.0" in makefile  # never an unpinned CUDA torch on CPU machines
    assert "make test" in (paths.REPO_ROOT / ".ci" / "run").read_text()
    readme = (paths.REPO_ROOT / "README.md").read_text()
    first_commands = re.findall(r"^make \w+", readme, flags=re.M)[:2]
    assert first_commands == ["make reproduce", "make test"]


NETWORK_ERRORS = ("NewConnectionError", "Max retries exceeded", "Temporary failure in name resolution",
                  "Could not fetch URL", "ConnectTimeoutError", "Network is unreachable", "ProxyError")


def _registry_reachable() -> bool:
    index = os.environ.get("PIP_INDEX_URL", "https://pypi.org/simple").rstrip("/")
    try:
        with urllib.request.urlopen(f"{index}/zstandard/", timeout=10) as r:
            return r.status == 200
    except (urllib.error.URLError, OSError, ValueError):
        return False


def _version(v: str) -> tuple[int, ...]:
    return tuple(int(p) for p in v.split(".")[:2] if p.isdigit())


@integration  # creates a venv and asks the registry (about a minute)
def test_data_extra_resolves_in_a_fresh_venv(tmp_path):
    """It used to be ResolutionImpossible: every mosaicml-streaming release pins transformers<5 and the project needs
    >=5. pip's own resolver (`--dry-run --report`) in a throw-away venv under tmp: nothing is installed, the project
    venv is untouched; skipped when the package registry cannot be reached from here."""
    if not _registry_reachable():
        pytest.skip("the package registry is unreachable from here")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True, capture_output=True, timeout=120)
    report = tmp_path / "report.json"
    out = subprocess.run([str(venv / "bin" / "python"), "-m", "pip", "install", "--dry-run", "--quiet", "--report",
                          str(report), "-e", f"{paths.REPO_ROOT}[data]"], capture_output=True, text=True,
                         timeout=540, cwd=tmp_path)
    if out.returncode != 0 and any(e in out.stderr for e in NETWORK_ERRORS):
        pytest.skip(f"the package registry failed mid-resolution: {out.stderr[-300:]}")
    assert out.returncode == 0, out.stderr[-3000:]
    installs = {i["metadata"]["name"].lower().replace("_", "-"): i["metadata"]["version"]
                for i in json.loads(report.read_text())["install"]}
    assert installs.get("prolong") == "0.1.0"
    assert "zstandard" in installs                                  # what zstd-compressed MDS shards need
    assert _version(installs["transformers"]) >= (5, 0)
    assert "mosaicml-streaming" not in installs                     # it would pin transformers<5
