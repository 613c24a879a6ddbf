"""Checkpoints that survive a kill at any moment.

Layout under `runs/train/<run>/checkpoints/`:

    step_000125/
        model.safetensors | pytorch_model_fsdp_0/ ...   model (accelerate.save_state; FSDP: sharded per rank)
        optimizer.bin     | optimizer_0/ ...             AdamW state
        random_states_<rank>.pkl                         python / numpy / torch (/ CUDA) RNG of every rank
        data_state_rank<rank>.pt                         MixtureStream.state_dict() of every rank
        trainer_state.json                               step, tokens seen, LR schedule position, params fingerprint
    .tmp-step_000250/                                    a save in progress (ignored, removed on resume)

A checkpoint is written into `.tmp-step_N` and renamed to `step_N` only when every rank has finished writing, so a
directory named `step_N` is always complete; an interrupted save leaves only a temp directory.
"""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path
from typing import Any

import torch
from accelerate import Accelerator

from prolong.io import atomic_write_json, read_json

_STEP_DIR = re.compile(r"^step_(\d+)$")
TRAINER_STATE = "trainer_state.json"


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
    torch.save(data_state, tmp / f"data_state_rank{acc.process_index}.pt")
    acc.wait_for_everyone()
    if acc.is_main_process:
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


def load_checkpoint(acc: Accelerator, path: Path, data: bool = True) -> tuple[dict[str, Any], Any]:
    """Restore model, optimizer and RNG in place; return (trainer_state, this rank's data state). data=False skips the
    data state (another stage's checkpoint, possibly written by another number of ranks) and returns None for it."""
    acc.load_state(str(path))
    trainer_state = read_json(path / TRAINER_STATE)
    if not data:
        return trainer_state, None
    data_file = path / f"data_state_rank{acc.process_index}.pt"
    if not data_file.is_file():
        raise FileNotFoundError(f"{data_file}: missing (was this checkpoint written with {acc.num_processes} ranks?)")
    data_state = torch.load(data_file, weights_only=False)
    return trainer_state, data_state


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
