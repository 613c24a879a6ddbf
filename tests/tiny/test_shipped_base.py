"""The shipped tiny base (results/tiny_base/, prolong.experiments.shipped_base): it is the run the base chain names
today, its bytes are the manifest's, an experiment's runner installs it instead of training the four base stages, and
a damaged file is reported by name while the base trains instead."""

from __future__ import annotations

import shutil

import pytest

from prolong.experiments import shipped_base as sb
from prolong.experiments.graph import arm_chain, load_experiment
from prolong.experiments.runner import stage_done, stages_to_train
from prolong.runs import Run


def _base_chain():
    spec = load_experiment("tiny", "T18")
    chain, _ = arm_chain(spec, spec.arms[0], 0, None)
    return chain, len(spec.base)


def test_the_shipped_base_is_the_run_the_chain_names():
    manifest = sb.read_manifest()
    assert manifest, f"{sb.SHIPPED_DIR / sb.MANIFEST} is missing: run `make tiny-base` and commit results/tiny_base"
    chain, n_base = _base_chain()
    assert manifest["run"] == chain[n_base - 1].name, (
        f"results/tiny_base ships {manifest['run']}, but params/tiny/base_chain.yaml and the tiny world now name "
        f"{chain[n_base - 1].name}: run `make tiny-base` and commit results/tiny_base")
    assert "model/model.safetensors" in manifest["files"]
    assert sb.check_shipped() == []


def _copy_shipped(tmp_path):
    root = tmp_path / "shipped"
    shutil.copytree(sb.SHIPPED_DIR, root)
    return root


def test_the_runner_installs_it_and_skips_the_base_stages(tmp_path, monkeypatch):
    monkeypatch.delenv("PROLONG_TRAIN_BASE", raising=False)
    root, runs = _copy_shipped(tmp_path), tmp_path / "runs"
    monkeypatch.setenv("PROLONG_RUNS", str(runs))
    chain, n_base = _base_chain()
    lines = []
    assert sb.install_shipped_base(chain, lines.append, root=root)
    assert stage_done(chain[n_base - 1]) and "shipped" in lines[0]
    assert stages_to_train(chain, lambda m: None) == chain[n_base:]   # only the arm's own stages are left
    installed = Run.at(chain[n_base - 1].ref).path
    for rel, digest in sb.read_manifest(root)["files"].items():
        assert sb.sha256(installed / rel) == digest
    assert not sb.install_shipped_base(chain, lines.append, root=root)  # once: it is logged now


def test_a_damaged_file_is_named_and_the_base_trains_instead(tmp_path, monkeypatch):
    monkeypatch.delenv("PROLONG_TRAIN_BASE", raising=False)
    root, runs = _copy_shipped(tmp_path), tmp_path / "runs"
    monkeypatch.setenv("PROLONG_RUNS", str(runs))
    weights = root / sb.read_manifest(root)["run"] / "model" / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-7])
    chain, n_base = _base_chain()
    lines = []
    assert not sb.install_shipped_base(chain, lines.append, root=root)
    assert str(weights) in lines[0] and "damaged" in lines[0]
    assert not Run.at(chain[n_base - 1].ref).path.exists()            # nothing half-installed


def test_train_base_opts_out(tmp_path, monkeypatch):
    root = _copy_shipped(tmp_path)
    monkeypatch.setenv("PROLONG_RUNS", str(tmp_path / "runs"))
    monkeypatch.setenv("PROLONG_TRAIN_BASE", "1")
    chain, _ = _base_chain()
    assert not sb.install_shipped_base(chain, lambda m: None, root=root)


@pytest.mark.parametrize("broken", ["{not json", ""])
def test_an_unreadable_manifest_names_its_file(tmp_path, broken):
    (tmp_path / sb.MANIFEST).write_text(broken)
    with pytest.raises(ValueError, match=str(tmp_path / sb.MANIFEST)):
        sb.read_manifest(tmp_path)
