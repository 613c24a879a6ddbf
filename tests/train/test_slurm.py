"""params/paper/slurm/train.sbatch and eval.sbatch on a fake cluster (fake srun / scontrol on PATH, a fake accelerate in a fake
repository): run as Slurm runs it - a spooled copy, from another folder - it finds the repository from
SLURM_SUBMIT_DIR, launches accelerate on every node with the right world, requeues itself on the time-limit signal,
and refuses a missing params file or environment with an error naming it."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest

from prolong import paths

SBATCH = paths.PARAMS_DIR / "paper" / "slurm" / "train.sbatch"
EVAL_SBATCH = paths.PARAMS_DIR / "paper" / "slurm" / "eval.sbatch"


def _exe(path: Path, body: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(0o755)


@pytest.fixture
def cluster(tmp_path):
    repo, bin_, spool, log = tmp_path / "repo", tmp_path / "bin", tmp_path / "spool", tmp_path / "log"
    _exe(repo / ".venv" / "bin" / "accelerate", f'echo "accelerate $* node=$SLURM_NODEID" >> {log}\n'
                                                 f'exec sleep "${{FAKE_TRAIN_SECONDS:-0}}"\n')
    (repo / "stage.yaml").write_text("experiment: x\n")
    # srun: drop its options, run the command once per node
    _exe(bin_ / "srun", 'while [[ "$1" == --* ]]; do shift; done\n'
                        'trap \'kill $(jobs -p) 2>/dev/null; exit 143\' TERM\n'   # srun ends its tasks when killed
                        'for ((i = 0; i < SLURM_JOB_NUM_NODES; i++)); do SLURM_NODEID=$i "$@" & done; wait\n')
    _exe(bin_ / "scontrol", f'if [ "$1" = show ]; then echo node-a; echo node-b; else echo "scontrol $*" >> {log}; fi\n')
    spool.mkdir()
    shutil.copy(SBATCH, spool / "slurm_script")                     # Slurm runs a copy from its spool folder
    env = {**os.environ, "PATH": f"{bin_}:{os.environ['PATH']}", "SLURM_SUBMIT_DIR": str(repo),
           "SLURM_JOB_NUM_NODES": "2", "SLURM_JOB_NODELIST": "node-[a-b]", "SLURM_JOB_ID": "4242"}
    env.pop("PROLONG_REPO", None)
    return {"repo": repo, "script": spool / "slurm_script", "log": log, "env": env, "cwd": tmp_path}


def _run(c, *args, **env):
    return subprocess.run(["bash", str(c["script"]), *args], cwd=c["cwd"], env={**c["env"], **env},
                          capture_output=True, text=True, timeout=60)


def test_spooled_copy_finds_the_repo_and_launches_every_node(cluster):
    out = _run(cluster, "stage.yaml", "--max-steps", "3")
    assert out.returncode == 0, out.stderr
    lines = sorted(cluster["log"].read_text().splitlines())
    assert len(lines) == 2 and [l.split("node=")[1] for l in lines] == ["0", "1"]
    assert ("--config_file params/paper/accelerate/fsdp_multinode.yaml --num_machines 2 --num_processes 16 "
            "--machine_rank 0 --main_process_ip node-a") in lines[0]
    assert lines[0].split(" node=")[0].endswith("-m prolong.cli train --params stage.yaml --max-steps 3")


def test_time_limit_signal_requeues_the_job(cluster):
    err_file = cluster["cwd"] / "stderr"
    p = subprocess.Popen(["bash", str(cluster["script"]), "stage.yaml"], cwd=cluster["cwd"],
                         env={**cluster["env"], "FAKE_TRAIN_SECONDS": "30"}, stdout=subprocess.DEVNULL,
                         stderr=open(err_file, "w"))
    deadline = time.time() + 20
    while not (cluster["log"].is_file() and len(cluster["log"].read_text().splitlines()) == 2):
        assert time.time() < deadline and p.poll() is None, err_file.read_text()
        time.sleep(0.05)
    p.send_signal(signal.SIGUSR1)                                   # what --signal=B:USR1@600 delivers
    p.wait(timeout=20)
    err = err_file.read_text()
    assert p.returncode == 0, err
    assert "scontrol requeue 4242" in cluster["log"].read_text() and "requeueing job 4242" in err


def test_missing_params_or_environment_is_an_error(cluster):
    out = _run(cluster, "nowhere.yaml")
    assert out.returncode == 2 and "repo/nowhere.yaml: params file not found" in out.stderr
    (cluster["repo"] / ".venv" / "bin" / "accelerate").unlink()
    out = _run(cluster, "stage.yaml")
    assert out.returncode == 2 and "repo/.venv/bin/accelerate not found: submit from the repository root" in out.stderr
    assert not cluster["log"].exists()


def test_sbatch_asks_for_requeue_and_the_signal():
    text = SBATCH.read_text()
    for line in ("#SBATCH --requeue", "#SBATCH --signal=B:USR1@600", "SLURM_SUBMIT_DIR"):
        assert line in text
    assert "dirname \"$0\"" not in text                            # $0 is the spooled copy under Slurm


def test_eval_job_runs_prolong_experiment_without_training(tmp_path):
    """eval.sbatch submitted through the fake sbatch (a spooled copy, run from another folder): the repository from
    SLURM_SUBMIT_DIR, `prolong experiment run --no-train` with the job's arguments; without them, or without the
    environment, an error naming what is missing."""
    from tests.helpers.slurm import fake_cluster

    c = fake_cluster(tmp_path)
    args = ["--scale", "paper", "--experiment", "T10", "--arms", "prolong", "--seeds", "0"]
    out = subprocess.run(["sbatch", "--parsable", "params/paper/slurm/eval.sbatch", *args], cwd=c.repo, env=c.env,
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and out.stdout.strip() == "1001;fake", out.stderr
    [job] = c.jobs()
    assert job["state"] == "COMPLETED" and job["nodes"] == 1 and job["job_name"] == "prolong-eval"
    assert c.log_lines() == ["prolong experiment run --no-train " + " ".join(args) + " job=1001"]
    subprocess.run(["sbatch", "params/paper/slurm/eval.sbatch"], cwd=c.repo, env=c.env, check=True,
                   capture_output=True)
    assert c.jobs()[-1]["state"] == "FAILED" and "usage: sbatch eval.sbatch" in c.job_output(1002)
    (c.repo / ".venv" / "bin" / "prolong").unlink()
    subprocess.run(["sbatch", "params/paper/slurm/eval.sbatch", *args], cwd=c.repo, env=c.env, check=True,
                   capture_output=True)
    assert c.jobs()[-1]["state"] == "FAILED"
    assert f"{c.repo}/.venv/bin/prolong not found: submit from the repository root" in c.job_output(1003)
    assert len(c.log_lines()) == 1


def test_eval_sbatch_is_one_node_and_never_trains():
    text = EVAL_SBATCH.read_text()
    for line in ("#SBATCH --nodes=1", "SLURM_SUBMIT_DIR", "experiment run --no-train"):
        assert line in text
    assert "dirname \"$0\"" not in text
