"""Checkpoints that survive a kill at any moment.

Layout under `runs/train/<run>/checkpoints/`:

    step_000125/
        model.safetensors | pytorch_model_fsdp_0/ ...   model (accelerate.save_state; FSDP: sharded per rank)
        optimizer.bin     | optimizer_0/ ...             AdamW state
        random_states_<rank>.pkl                         python / numpy / torch (/ CUDA) RNG of every rank
        data_state_rank<rank>.json                       MixtureStream.state_dict() of every rank (plain JSON)
        files.json                                       size and sha256 of every file above (prolong.integrity)
        trainer_state.json                               step, tokens seen, LR schedule position, params fingerprint
    .tmp-step_000250/                                    a save in progress (ignored, removed on resume)
    .damaged-step_000375/                                a checkpoint that failed verification, moved aside

A checkpoint is written into `.tmp-step_N` and renamed to `step_N` only when every rank has finished writing, so a
directory named `step_N` is always complete; an interrupted save leaves only a temp directory. A complete directory
can still be damaged later (a full disk, a cut copy): resume verifies sizes and checksums against files.json and
starts from the newest checkpoint that verifies, naming the ones it moved aside.

Nothing in a run folder is executed: the data state is JSON, and accelerate loads model, optimizer and RNG states
with `torch.load(weights_only=True)` (tensors, numbers and allow-listed numpy types only). A data state of an older
checkpoint (`data_state_rank<rank>.pt`) is read the same way.
"""

from __future__ import annotations

import os
import re
import shutil
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from accelerate import Accelerator

from prolong.integrity import record_files, verify_files
from prolong.io import CorruptFileError, atomic_write_json, read_json
from prolong.train.distributed import broadcast_object

if TYPE_CHECKING:
    from prolong.runs import Run

_STEP_DIR = re.compile(r"^step_(\d+)$")
TRAINER_STATE = "trainer_state.json"
FILES = "files.json"  # {relative path: {"size", "sha256"}} of every other file of the checkpoint


def data_state_file(path: Path, rank: int) -> Path:
    return path / f"data_state_rank{rank}.json"


def step_dir(root: Path, step: int) -> Path:
    return root / f"step_{step:06d}"


def list_checkpoints(root: Path) -> list[tuple[int, Path]]:
    """Complete checkpoints under `root`, oldest first."""
    if not root.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in root.iterdir() if p.is_dir() and (m := _STEP_DIR.match(p.name))]
    return sorted(c for c in found if (c[1] / TRAINER_STATE).is_file())


def latest_checkpoint(root: Path) -> Path | None:
    found = list_checkpoints(root)
    return found[-1][1] if found else None


def save_checkpoint(acc: Accelerator, root: Path, step: int, trainer_state: dict[str, Any], data_state: Any,
                    keep: int | None = None) -> Path:
    """Write model, optimizer, RNG (accelerate), every rank's data state and the trainer state; atomically."""
    final, tmp = step_dir(root, step), root / f".tmp-step_{step:06d}"
    if acc.is_main_process:
        shutil.rmtree(tmp, ignore_errors=True)
        tmp.mkdir(parents=True)
    acc.wait_for_everyone()
    acc.save_state(str(tmp))
    atomic_write_json(data_state_file(tmp, acc.process_index), data_state)
    acc.wait_for_everyone()
    if acc.is_main_process:
        atomic_write_json(tmp / FILES, record_files(tmp))  # every rank's files, on the shared filesystem
        atomic_write_json(tmp / TRAINER_STATE, trainer_state)  # written last: marks the directory complete
        if final.exists():  # same step saved before (a resumed run that stopped at this step): replace it
            old = root / f".old-step_{step:06d}"
            shutil.rmtree(old, ignore_errors=True)
            os.replace(final, old)
            os.replace(tmp, final)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, final)
        _fsync_dir(root)
        if keep is not None:
            for _, old_dir in list_checkpoints(root)[:-keep]:
                shutil.rmtree(old_dir, ignore_errors=True)
    acc.wait_for_everyone()
    return final


class ResumeMismatchError(ValueError):
    """A checkpoint that this launch cannot resume (other number of processes or sequence-parallel size)."""


def check_resumable(path: Path, world_size: int, sequence_parallel_size: int) -> None:
    """Refuse to resume from a checkpoint written with another number of processes or another sequence-parallel
    size: the data stream's state is saved per rank (and per data-parallel group), so it does not carry over."""
    state = read_json(path / TRAINER_STATE)
    saved_world = state.get("world_size")
    saved_sp = state.get("sequence_parallel_size", 1)  # checkpoints written before sequence parallelism
    if saved_world is not None and saved_world != world_size:
        raise ResumeMismatchError(f"{path}: written by {saved_world} processes, resuming with {world_size}; the data "
                                  f"state is saved per rank, so resume with {saved_world} processes (or start a new "
                                  f"run)")
    if saved_sp != sequence_parallel_size:
        raise ResumeMismatchError(f"{path}: written with train.sequence_parallel_size {saved_sp}, resuming with "
                                  f"{sequence_parallel_size}; the data state is saved per data-parallel group, so "
                                  f"resume with sequence_parallel_size {saved_sp} (or start a new run)")


def verify_checkpoint(path: Path, checksums: bool = True) -> list[str]:
    """Why the checkpoint at `path` cannot be trusted (empty when it verifies), each problem naming its file. A
    checkpoint written before files.json existed is checked for its trainer state only."""
    try:
        state = read_json(path / TRAINER_STATE)
        if not isinstance(state, dict) or not isinstance(state.get("step"), int):
            return [f"{path / TRAINER_STATE}: no step"]
        if not (path / FILES).is_file():
            return []
        records = read_json(path / FILES)
        if not isinstance(records, dict):
            return [f"{path / FILES}: not a mapping of files"]
        return verify_files(path, records, checksums=checksums)
    except (CorruptFileError, FileNotFoundError, KeyError, TypeError) as err:
        return [str(err)]


def newest_verified(root: Path, checksums: bool = True) -> tuple[Path | None, list[str]]:
    """The newest complete checkpoint under `root` that verifies, and one line per newer one that did not (moved
    aside to `.damaged-step_N`, so that it is never picked again and stays there to look at)."""
    skipped = []
    for step, path in reversed(list_checkpoints(root)):
        problems = verify_checkpoint(path, checksums)
        if not problems:
            return path, skipped
        aside = root / f".damaged-{path.name}"
        shutil.rmtree(aside, ignore_errors=True)
        os.replace(path, aside)
        skipped.append(f"checkpoint {path.name} skipped ({'; '.join(problems)}); moved to {aside.name}")
    return None, skipped


def load_checkpoint(acc: Accelerator, path: Path, data: bool = True) -> tuple[dict[str, Any], Any]:
    """Restore model, optimizer and RNG in place; return (trainer_state, this rank's data state). data=False skips the
    data state (another stage's checkpoint, possibly written by another number of ranks) and returns None for it."""
    acc.load_state(str(path))  # accelerate: torch.load(weights_only=True) for model, optimizer and RNG states
    trainer_state = read_json(path / TRAINER_STATE)
    if not data:
        return trainer_state, None
    data_file = data_state_file(path, acc.process_index)
    if data_file.is_file():
        return trainer_state, read_json(data_file)
    old = data_file.with_suffix(".pt")  # checkpoints written before the JSON data state
    if not old.is_file():
        raise FileNotFoundError(f"{data_file}: missing (was this checkpoint written with {acc.num_processes} ranks?)")
    try:
        return trainer_state, torch.load(old, weights_only=True)  # plain containers and numbers only, never code
    except Exception as err:  # noqa: BLE001 - the unpickler's refusal, named with the file
        raise CorruptFileError(f"{old}: not a plain data state ({type(err).__name__}: {str(err).splitlines()[0]}); "
                               "refusing to load it") from err


def clear_partial(acc: Accelerator, root: Path) -> None:
    """Remove temp directories left by a save that was killed."""
    if acc.is_main_process and root.is_dir():
        for p in root.iterdir():
            if p.name.startswith((".tmp-step_", ".old-step_")):
                shutil.rmtree(p, ignore_errors=True)
    acc.wait_for_everyone()


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


# ---- which checkpoint a run resumes from ------------------------------------------------------------------------------

def choose_resume(acc: Accelerator, ckpt_root: Path, run: "Run") -> Path | None:
    """The newest checkpoint of this run that verifies (sizes and checksums, on rank 0, then told to every rank);
    each newer damaged one is named on stderr and moved aside."""
    chosen, skipped = None, []
    if acc.is_main_process:
        chosen, skipped = newest_verified(ckpt_root)
        for line in skipped:
            print(f"warning: {run.path}: {line}", file=sys.stderr)
        if skipped:
            print(f"warning: {run.path}: resuming from {chosen.name if chosen else 'the start'}", file=sys.stderr)
    return broadcast_object(acc, chosen)


def init_checkpoint(init_run: Path, ref: str) -> Path:
    """The previous stage's last checkpoint (its optimizer moments), which must verify: an older one would be the
    moments of another step."""
    found = list_checkpoints(init_run / "checkpoints")
    if not found:
        raise FileNotFoundError(f"init_from {ref}: no checkpoint with optimizer state under "
                                f"{init_run / 'checkpoints'}")
    problems = verify_checkpoint(found[-1][1])
    if problems:
        raise CorruptFileError(f"init_from {ref}: its last checkpoint is damaged: {'; '.join(problems)}")
    return found[-1][1]
