"""A fake Slurm cluster for the launch scripts' tests: `sbatch`, `srun` and `scontrol` on PATH, and a fake repository
whose `.venv/bin/accelerate` and `.venv/bin/prolong` only log what they were asked to do.

The fake `sbatch` runs each job at once, in submission order (which is an order that honours every afterok
dependency), as Slurm runs it: a spooled copy of the script, from another folder, with SLURM_SUBMIT_DIR, SLURM_JOB_ID,
SLURM_JOB_NUM_NODES and SLURM_JOB_NODELIST set. A job whose afterok dependency did not complete is not run (state
CANCELLED, as with --kill-on-invalid-dep); an unknown dependency is sbatch's error. Every submission is recorded in
`jobs.json` (id, script, args, nodes, dependencies, job name, state).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from dataclasses import dataclass
from pathlib import Path

from prolong import paths

SBATCH = r'''
import json, os, re, shutil, subprocess, sys
from pathlib import Path

state = Path(os.environ["FAKE_SLURM"])
args, opts, i = sys.argv[1:], {}, 0
VALUED = {"--nodes", "--job-name", "--time", "--dependency", "-N", "-J"}
while i < len(args) and args[i].startswith("-"):
    a = args[i]
    if "=" in a:
        k, v = a.split("=", 1)
    elif a in VALUED:
        k, v, i = a, args[i + 1], i + 1
    else:
        k, v = a, True
    opts[k] = v
    i += 1
if i >= len(args):
    sys.exit("sbatch: error: no batch script")
script, script_args = Path(args[i]), args[i + 1:]
if not script.is_file():
    sys.exit(f"sbatch: error: Unable to open file {script}")
jobs_file = state / "jobs.json"
jobs = json.loads(jobs_file.read_text()) if jobs_file.exists() else []
job_id = 1001 + len(jobs)
text = script.read_text()
nodes = int(opts.get("--nodes") or re.search(r"#SBATCH --nodes=(\d+)", text).group(1))
dep = opts.get("--dependency", "")
if dep and not dep.startswith("afterok:"):
    sys.exit(f"sbatch: error: fake sbatch knows only afterok dependencies, got {dep}")
deps = [int(d) for d in dep.split(":")[1:]] if dep else []
states = {j["id"]: j["state"] for j in jobs}
if any(d not in states for d in deps):
    sys.exit("sbatch: error: Batch job submission failed: Job dependency problem")
name = opts.get("--job-name") or re.search(r"#SBATCH --job-name=(\S+)", text).group(1)
if all(states[d] == "COMPLETED" for d in deps):
    spool = state / f"spool-{job_id}"
    spool.mkdir()
    shutil.copy(script, spool / "slurm_script")
    env = {**os.environ, "SLURM_SUBMIT_DIR": os.getcwd(), "SLURM_JOB_ID": str(job_id), "SLURM_JOB_NAME": name,
           "SLURM_JOB_NUM_NODES": str(nodes), "SLURM_JOB_NODELIST": f"node-[0-{nodes - 1}]"}
    with open(spool / "out", "w") as out:
        rc = subprocess.run(["bash", str(spool / "slurm_script"), *script_args], cwd=spool, env=env, stdout=out,
                            stderr=subprocess.STDOUT).returncode
    job_state = "COMPLETED" if rc == 0 else "FAILED"
else:
    job_state = "CANCELLED" if opts.get("--kill-on-invalid-dep") == "yes" else "PENDING"
jobs.append({"id": job_id, "script": str(script), "args": script_args, "nodes": nodes, "dependency": deps,
             "job_name": name, "state": job_state})
jobs_file.write_text(json.dumps(jobs))
print(f"{job_id};fake" if opts.get("--parsable") else f"Submitted batch job {job_id}")
'''

SRUN = ('while [[ "$1" == --* ]]; do shift; done\n'
        "trap 'kill $(jobs -p) 2>/dev/null; exit 143' TERM\n"   # srun ends its tasks when killed
        'for ((i = 0; i < SLURM_JOB_NUM_NODES; i++)); do SLURM_NODEID=$i "$@" & done\n'
        'rc=0; for p in $(jobs -p); do wait "$p" || rc=$?; done; exit $rc\n')


def _exe(path: Path, body: str, shebang: str = "#!/bin/bash") -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"{shebang}\n{body}")
    path.chmod(0o755)


@dataclass
class FakeCluster:
    root: Path
    repo: Path
    bin: Path
    log: Path
    env: dict

    def jobs(self) -> list[dict]:
        f = self.root / "slurm" / "jobs.json"
        return json.loads(f.read_text()) if f.exists() else []

    def log_lines(self) -> list[str]:
        return self.log.read_text().splitlines() if self.log.exists() else []

    def job_output(self, job_id: int) -> str:
        return (self.root / "slurm" / f"spool-{job_id}" / "out").read_text()


def fake_cluster(tmp_path: Path) -> FakeCluster:
    """The fake cluster under `tmp_path`: the repository (`repo/`, with the real params/paper/slurm scripts) is where
    launch scripts are run from. FAKE_FAIL=<text>: the fake accelerate fails for a command line holding <text>."""
    repo, bin_, log = tmp_path / "repo", tmp_path / "bin", tmp_path / "log"
    (tmp_path / "slurm").mkdir(parents=True)
    _exe(repo / ".venv" / "bin" / "accelerate",
         f'echo "accelerate $* node=$SLURM_NODEID job=$SLURM_JOB_ID" >> {log}\n'
         'if [ -n "${FAKE_FAIL:-}" ] && [[ "$*" == *"$FAKE_FAIL"* ]]; then exit 1; fi\n'
         'exec sleep "${FAKE_TRAIN_SECONDS:-0}"\n')
    _exe(repo / ".venv" / "bin" / "prolong", f'echo "prolong $* job=$SLURM_JOB_ID" >> {log}\n')
    slurm = repo / "params" / "paper" / "slurm"
    slurm.mkdir(parents=True)
    for script in (paths.PARAMS_DIR / "paper" / "slurm").glob("*.sbatch"):
        shutil.copy(script, slurm / script.name)
    _exe(bin_ / "sbatch", SBATCH, f"#!{sys.executable}")
    _exe(bin_ / "srun", SRUN)
    _exe(bin_ / "scontrol", 'if [ "$1" = show ]; then for ((i = 0; i < SLURM_JOB_NUM_NODES; i++)); do '
                            'echo node-$i; done; else echo "scontrol $*" >> ' f'{log}; fi\n')
    env = {**os.environ, "PATH": f"{bin_}:{os.environ['PATH']}", "FAKE_SLURM": str(tmp_path / "slurm")}
    for key in ("PROLONG_REPO", "SLURM_SUBMIT_DIR", "SLURM_JOB_ID", "FAKE_FAIL"):
        env.pop(key, None)
    return FakeCluster(tmp_path, repo, bin_, log, env)
