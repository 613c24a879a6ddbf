"""Helpers of the training tests: a synthetic resumable stream, tiny params, and `run_distributed_test`."""

from __future__ import annotations

import os
import pickle
import socket
import tempfile
import traceback
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch.multiprocessing as mp

from prolong.data.packing import PackedSequence
from prolong.train.config import DataSection, OptimConfig, TrainConfig, TrainParams
from prolong.model.build import ModelConfig

VOCAB = 64


class CountingStream:
    """Deterministic, resumable, rank-aware stream of packed sequences of 'counting' documents
    (start s, then s+1, s+2, ... mod VOCAB): easy to learn, so a loss curve falls within a few dozen steps.
    With `sft=True` a random share of tokens is masked out of the loss (unequal target counts per sequence)."""

    def __init__(self, seq_len: int, seed: int = 0, dp_rank: int = 0, dp_size: int = 1, sft: bool = False):
        self.seq_len, self.seed, self.dp_rank, self.dp_size, self.sft = seq_len, seed, dp_rank, dp_size, sft
        self.n = 0  # global sequences drawn

    def _make(self, index: int) -> PackedSequence:
        rng = np.random.default_rng([self.seed, index])
        lens, left = [], self.seq_len
        while left > 0:
            n = int(min(left, rng.integers(4, max(5, self.seq_len // 2))))
            lens.append(n)
            left -= n
        ids = np.concatenate([(rng.integers(0, VOCAB) + np.arange(n)) % VOCAB for n in lens]).astype(np.int32)
        mask = rng.random(self.seq_len) < rng.uniform(0.2, 0.9) if self.sft else None
        domain = "even" if index % 2 == 0 else "odd"
        return PackedSequence(ids, np.asarray(lens, np.int32), mask, domain)

    def __iter__(self):
        return self

    def __next__(self) -> PackedSequence:
        seq = self._make(self.n + self.dp_rank)
        self.n += self.dp_size
        return seq

    def state_dict(self) -> dict:
        return {"n": self.n}

    def load_state_dict(self, state: dict) -> None:
        self.n = state["n"]


def counting_data(seq_len: int, seed: int = 0, sft: bool = False):
    from prolong.train.loop import DataSetup

    return DataSetup(lambda rank, size: CountingStream(seq_len, seed, rank, size, sft), vocab_size=VOCAB)


def tiny_params(experiment: str = "test", seq_len: int = 64, steps: int = 8, batch_size: int = 4,
                micro_batch_size: int = 1, **overrides: Any) -> TrainParams:
    """A 2-layer model on the counting stream; `overrides` as section__field=value (e.g. optim__lr=1e-3)."""
    sections: dict[str, dict[str, Any]] = {
        "model": dict(hidden_size=32, intermediate_size=64, num_layers=2, num_heads=4, num_kv_heads=2,
                      vocab_size=VOCAB, max_position_embeddings=seq_len, rope_theta=10000.0, loss_block_size=16),
        "data": dict(mixture="unused.yaml", seq_len=seq_len),
        "optim": dict(lr=3e-3, warmup_fraction=0.25),
        "train": dict(steps=steps, batch_size=batch_size, micro_batch_size=micro_batch_size, checkpoint_every=3,
                      peak_flops_per_device=1e11),
    }
    top: dict[str, Any] = {}
    for key, value in overrides.items():
        if "__" in key:
            section, field = key.split("__", 1)
            sections[section][field] = value
        else:
            top[key] = value
    return TrainParams(experiment=top.pop("experiment", experiment), model=ModelConfig(**sections["model"]),
                       data=DataSection(**sections["data"]), optim=OptimConfig(**sections["optim"]),
                       train=TrainConfig(**sections["train"]), **top)


# ---- multi-process tests ------------------------------------------------------------------------------------------

def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _worker(rank: int, world_size: int, port: int, fn: Callable, args: tuple, out_dir: str, env: dict) -> None:
    os.environ.update(env)
    os.environ.update({"MASTER_ADDR": "127.0.0.1", "MASTER_PORT": str(port), "RANK": str(rank),
                       "WORLD_SIZE": str(world_size), "LOCAL_RANK": str(rank), "LOCAL_WORLD_SIZE": str(world_size),
                       "OMP_NUM_THREADS": "1"})
    import torch

    torch.set_num_threads(1)
    path = Path(out_dir) / f"rank{rank}.pkl"
    try:
        result = ("ok", fn(rank, world_size, *args))
    except BaseException:  # noqa: BLE001 - reported to the parent
        result = ("error", traceback.format_exc())
    path.write_bytes(pickle.dumps(result))
    import torch.distributed as dist

    if dist.is_initialized():
        dist.destroy_process_group()


def run_distributed_test(fn: Callable, world_size: int, *args: Any, env: dict[str, str] | None = None) -> list[Any]:
    """Run `fn(rank, world_size, *args)` in `world_size` spawned CPU processes (gloo; accelerate sees the torchrun
    environment). Returns every rank's result; a failure on any rank is raised with its traceback."""
    with tempfile.TemporaryDirectory() as out_dir:
        env = {k: v for k, v in (env or {}).items()}
        mp.spawn(_worker, args=(world_size, _free_port(), fn, args, out_dir, env), nprocs=world_size, join=True)
        results = []
        for rank in range(world_size):
            f = Path(out_dir) / f"rank{rank}.pkl"
            if not f.exists():
                raise RuntimeError(f"rank {rank} wrote no result")
            status, value = pickle.loads(f.read_bytes())
            if status != "ok":
                raise RuntimeError(f"rank {rank} failed:\n{value}")
            results.append(value)
        return results


# ---- workers of the multi-process tests (module level: spawned processes import them by name) ----------------------

def gradients_worker(rank: int, world_size: int, n_seqs: int = 4, seed: int = 4) -> dict[str, Any]:
    """One forward/backward over this rank's share of `n_seqs` SFT-masked sequences; returns the step's loss, this
    rank's target count and the (synchronised) gradients."""
    import torch

    from prolong.model.build import CausalLMWithLoss, build_model
    from prolong.train.batching import make_micro_batch
    from prolong.train.distributed import setup_distributed
    from prolong.train.loop import forward_backward, make_optimizer

    params = tiny_params()
    acc = setup_distributed("fp32")
    torch.manual_seed(0)
    net = CausalLMWithLoss(build_model(params.model), params.model.loss_block_size)
    optimizer = make_optimizer(net, params.optim)
    net, optimizer = acc.prepare(net, optimizer)
    stream = CountingStream(64, seed, rank, world_size, sft=True)
    micro_batches = [make_micro_batch([next(stream)]) for _ in range(n_seqs // world_size)]
    out = forward_backward(acc, net, micro_batches)
    grads = {n: p.grad.detach().clone() for n, p in acc.unwrap_model(net).named_parameters()}
    return {"loss": out["loss"], "n_targets_step": out["n_targets"],
            "n_targets_rank": sum(mb.n_targets for mb in micro_batches), "grads": grads}


def train_worker(rank: int, world_size: int, steps: int = 4) -> list[float]:
    """The whole loop on the counting stream; returns the logged loss curve."""
    from prolong.train.loop import train

    run = train(tiny_params(steps=steps, batch_size=4), run_name=f"ws{world_size}", data=counting_data(64))
    return run.train_log().loss.tolist() if rank == 0 else []


SP_STEPS = 3


def sp_params(sequence_parallel_size: int) -> TrainParams:
    """3 steps of 2 micro-batches of one 64-token SFT-masked sequence: one data-parallel group whatever the degree."""
    return tiny_params(steps=SP_STEPS, batch_size=2, micro_batch_size=1, train__sequence_parallel_size=
                       sequence_parallel_size)


def sp_train_worker(rank: int, world_size: int) -> dict[str, Any]:
    """The whole loop with sequence parallelism over all `world_size` ranks (dp 1); the loss curve, this rank's
    all-to-all calls and the logged tokens per domain."""
    from prolong.model.ulysses import COMM_STATS
    from prolong.train.loop import train

    COMM_STATS.reset()
    run = train(sp_params(world_size), run_name=f"sp{world_size}", data=counting_data(64, seed=7, sft=True))
    log = run.train_log() if rank == 0 else None
    return {"curve": log.loss.tolist() if rank == 0 else [],
            "tokens_per_domain": log.tokens_per_domain.iloc[-1] if rank == 0 else {},
            "n_targets": log.n_targets.tolist() if rank == 0 else [],
            "a2a_forward_calls": COMM_STATS.forward_calls}


def gradients_and_train_worker(rank: int, world_size: int) -> dict[str, Any]:
    """Every multi-process check of the loop in one set of processes (starting processes costs more than the work):
    data parallelism (one step, then the loop), then the loop with sequence parallelism over the same ranks."""
    return {"step": gradients_worker(rank, world_size), "curve": train_worker(rank, world_size),
            "sp": sp_train_worker(rank, world_size)}
