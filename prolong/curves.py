"""Training curves where users look: every record `Run.log_step` appends to train_log.jsonl (the source of truth) is
also written as TensorBoard scalars, and to Weights & Biases when asked for.

    tensorboard --logdir runs/            every training run's curves (runs/train/<run>/tensorboard/)
    PROLONG_TENSORBOARD=0                 no event files
    PROLONG_WANDB=offline|online          also log to W&B (when `wandb` is installed; offline: `wandb sync` later)

Scalars (the record's keys, prolong.train.loop): train/loss, train/lr, train/grad_norm, perf/tokens_per_s,
perf/mfu, perf/step_time_s, perf/peak_mem_gib, data/tokens and data/tokens/<domain> (cumulative tokens per domain),
at the record's step. The event files sit in their own folder of the run, which nothing fingerprints or compares
(checkpoints record only their own folder), so the bits of a tiny run do not depend on them. A resumed run re-logs
the steps after its checkpoint: `restart_at(run, step)` tells TensorBoard to drop the events after it (purge_step).
"""

from __future__ import annotations

import atexit
import os
import warnings
from pathlib import Path
from typing import Any

TB_DIR = "tensorboard"  # inside the run directory
SCALARS = {"loss": "train/loss", "lr": "train/lr", "grad_norm": "train/grad_norm", "tokens_per_s": "perf/tokens_per_s",
           "mfu": "perf/mfu", "step_time_s": "perf/step_time_s", "peak_mem_gib": "perf/peak_mem_gib",
           "tokens": "data/tokens"}

_open: dict[Path, "_Sinks"] = {}   # run directory -> its writers (a process logs one run at a time, maybe several)
_purge: dict[Path, int] = {}       # run directory -> first step to re-log (set by a resume, used when opening)


def tensorboard_enabled() -> bool:
    return os.environ.get("PROLONG_TENSORBOARD", "1") not in ("0", "false", "")


def scalars(record: dict[str, Any]) -> dict[str, float]:
    """{tag: value} of one train_log record (numbers only; NaN and inf are kept: a diverging run shows them)."""
    out = {tag: float(record[key]) for key, tag in SCALARS.items()
           if isinstance(record.get(key), (int, float)) and not isinstance(record.get(key), bool)}
    for domain, n in (record.get("tokens_per_domain") or {}).items():
        out[f"data/tokens/{domain}"] = float(n)
    return out


class _Sinks:
    def __init__(self, run_dir: Path, purge_step: int | None):
        self.tb = _tensorboard(run_dir, purge_step) if tensorboard_enabled() else None
        self.wandb = _wandb(run_dir)

    def write(self, record: dict[str, Any]) -> None:
        values, step = scalars(record), int(record["step"])
        if self.tb is not None:
            for tag, value in values.items():
                self.tb.add_scalar(tag, value, step)
            self.tb.flush()  # a few hundred bytes per step; `tensorboard` shows a run while it trains
        if self.wandb is not None:
            self.wandb.log(values, step=step)

    def close(self) -> None:
        if self.tb is not None:
            self.tb.close()
        if self.wandb is not None:
            self.wandb.finish()


def _tensorboard(run_dir: Path, purge_step: int | None):
    try:
        from torch.utils.tensorboard import SummaryWriter
    except ImportError:  # the `tensorboard` package is a dependency; a stripped install only loses the curves
        warnings.warn("tensorboard is not installed: no event files (train_log.jsonl has every step)", stacklevel=4)
        return None
    return SummaryWriter(log_dir=str(run_dir / TB_DIR), purge_step=purge_step)


def _wandb(run_dir: Path):
    mode = os.environ.get("PROLONG_WANDB", "")
    if mode not in ("online", "offline"):
        return None
    try:
        import wandb
    except ImportError:
        warnings.warn(f"PROLONG_WANDB={mode} but wandb is not installed (pip install wandb)", stacklevel=4)
        return None
    import yaml

    params_file = run_dir / "params.yaml"
    config = yaml.safe_load(params_file.read_text()) if params_file.is_file() else {}
    # the run directory's name is the W&B run id, so a resumed run continues its curves
    return wandb.init(project=os.environ.get("WANDB_PROJECT", "prolong"), name=run_dir.name, id=run_dir.name,
                      group=run_dir.parent.name, dir=str(run_dir), config=config, mode=mode, resume="allow",
                      reinit=True)


def log(run_dir: Path, record: dict[str, Any]) -> None:
    """Write one train_log record to the run's curves (opening its writers on the first record)."""
    sinks = _open.get(run_dir)
    if sinks is None:
        sinks = _open[run_dir] = _Sinks(run_dir, _purge.pop(run_dir, None))
    sinks.write(record)


def restart_at(run_dir: Path, step: int) -> None:
    """The run is logged again from `step` on (a resume): events at and after it are superseded."""
    close(run_dir)
    _purge[run_dir] = step


def close(run_dir: Path) -> None:
    sinks = _open.pop(run_dir, None)
    if sinks is not None:
        sinks.close()


@atexit.register
def _close_all() -> None:
    for run_dir in list(_open):
        close(run_dir)
