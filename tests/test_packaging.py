"""pyproject.toml and environment.yml list the same requirements; the Makefile and CI call what the README shows."""

import re
import tomllib

import yaml

from prolong import paths


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
