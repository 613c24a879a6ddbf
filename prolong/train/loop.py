"""The training loop of a stage (Stage 1 at 64K, Stage 2 at 512K): one code path for a tiny CPU model and for
Llama-3-8B-Instruct on H100 nodes; only the params differ.

    run = train(TrainParams.from_yaml("params/tiny/stages/stage1.yaml"))

Ranks form data-parallel groups of sequence_parallel_size ranks (1: every rank is its own group). The ranks of a
group read the same sequences and each runs the model on one contiguous chunk of every micro-batch. All of that is
set up in one place, prolong.train.parallelize (the layout, then SP attention, activation checkpointing and
DDP/FSDP); the chunks are cut in prolong.train.batching (MicroBatch.shard). The data stream, model, optimizer and
final model are built in prolong.train.stage; which checkpoint to resume from is prolong.train.checkpoint's choice.

One optimizer step, on every rank:
  1. draw micro_batch_size x grad_accum packed sequences of this rank's data-parallel group from the stream, group
     them into micro-batches and order those by attention cost (attended pairs of the documents, Table 15);
     with sequence parallelism, keep this rank's chunk of each micro-batch
  2. all-reduce the number of target tokens of the whole step (all micro-batches, all ranks; chunks are disjoint, so
     each target is counted once): n_step
  3. for each micro-batch: forward (document-masked attention, block-wise loss) -> loss_sum; backward of
     loss_sum * world_size / n_step (DDP/FSDP average gradients over ranks, so the world_size cancels and the step's
     gradient is exactly that of the mean loss over its n_step target tokens, whatever each rank's share; with
     parity.loss_average "device", that of the mean of the micro-batches' own means, as ProLong's released code)
  4. clip the global gradient norm, AdamW step at the scheduled LR, log, checkpoint every N steps

A step whose loss or gradient norm is not finite is logged but not applied (the weights stay those of the last good
step); MAX_NONFINITE_STEPS such steps in a row stop the run with `TrainingDivergedError` (status failed, the
checkpoints written before kept), and a checkpoint or final model is never written from non-finite weights.
"""

from __future__ import annotations

import math
import time
from contextlib import nullcontext
from pathlib import Path
from typing import Callable, Iterator

import torch
from accelerate import Accelerator
from accelerate.utils import set_seed

from prolong.errors import ProlongError
from prolong.determinism import set_cpu_threads
from prolong.memory import peak_memory_bytes
from prolong.progress import quiet
from prolong.runs import MODEL_DIR, Run
from prolong.train.batching import MicroBatch, make_micro_batch, order_by_attention_cost
from prolong.train.checkpoint import (check_resumable, choose_resume, clear_partial, init_checkpoint,
                                      list_checkpoints, load_checkpoint, save_checkpoint)
from prolong.train.config import TrainParams, lr_at, warmup_steps
from prolong.train.distributed import all_reduce_sum, gather_objects, is_ddp, on_main_then_all, setup_distributed
from prolong.train.export import save_dtype
from prolong.train.flops import StepFlops
from prolong.train.parallelize import ParallelLayout, check_layout_fits, init_layout, parallelize
# the set-up pieces, re-exported: callers and tests import them from here (and may patch them here)
from prolong.train.stage import (DataSetup, Stream, StreamFactory, build_data, init_model, make_optimizer,  # noqa: F401
                                 reset_hyperparameters, resolve_run_dir, save_final_model, set_lr)

# Consecutive optimizer steps with a non-finite loss or gradient norm after which a run is stopped. A module constant,
# not a params field: a new field would change the fingerprint, hence the name, of every logged run.
MAX_NONFINITE_STEPS = 3


class TrainingDivergedError(ProlongError):
    """The loss or gradient norm stayed non-finite, or the weights became non-finite; the run is marked failed."""


# ---- one optimizer step ----------------------------------------------------------------------------------------------

def forward_backward(acc: Accelerator, net: torch.nn.Module, micro_batches: list[MicroBatch],
                     loss_average: str = "token") -> dict[str, float]:
    """Accumulate the gradient of the step's loss over this rank's micro-batches. Returns the step's global mean
    loss over its target tokens and global counts (targets, tokens, attended pairs).

    loss_average "token" (the default): the gradient is that of the exact mean over the step's target tokens.
    "device" (TrainParams.parity, ProLong's released Stages 1-2): that of the mean over ranks and micro-batches of each
    micro-batch's own mean loss. The logged loss is the token mean either way."""
    if loss_average not in ("token", "device"):
        raise ValueError(f"loss_average must be 'token' or 'device', got {loss_average!r}")
    local = torch.tensor([sum(mb.n_targets for mb in micro_batches),
                          sum(mb.input_ids.numel() for mb in micro_batches),
                          sum(mb.attended_pairs for mb in micro_batches)], dtype=torch.float64)
    n_targets, n_tokens, pairs = all_reduce_sum(acc, local).tolist()
    # world_size / n_targets: DDP and FSDP average the ranks' gradients, so this yields d(sum of losses)/n_targets.
    scale = acc.num_processes / max(n_targets, 1.0)
    loss_sum = torch.zeros((), dtype=torch.float64, device=acc.device)
    for i, mb in enumerate(micro_batches):
        last = i == len(micro_batches) - 1
        if loss_average == "device":  # this micro-batch's mean; the ranks' average is DDP/FSDP's own
            scale = 1.0 / (max(mb.n_targets, 1) * len(micro_batches))
        with nullcontext() if (last or not is_ddp(acc)) else acc.no_sync(net):
            mb_loss, _ = net(**mb.model_inputs(acc.device))
            acc.backward(mb_loss * scale)
        loss_sum += mb_loss.detach().double()
    loss = all_reduce_sum(acc, loss_sum).item() / max(n_targets, 1.0)
    return {"loss": loss, "n_targets": int(n_targets), "n_tokens": int(n_tokens), "attended_pairs": int(pairs)}


def train_step(acc: Accelerator, net: torch.nn.Module, optimizer: torch.optim.Optimizer,
               micro_batches: list[MicroBatch], lr: float, grad_clip: float, loss_average: str = "token"
               ) -> dict[str, float]:
    """One optimizer step: forward/backward over the micro-batches, clip the global gradient norm, AdamW at `lr`."""
    out = forward_backward(acc, net, micro_batches, loss_average)
    grad_norm = float(acc.clip_grad_norm_(net.parameters(), grad_clip if grad_clip > 0 else math.inf))
    # loss and norm are global (all-reduced), so every rank takes the same decision
    finite = math.isfinite(out["loss"]) and math.isfinite(grad_norm)
    if finite:  # a NaN/inf gradient would make every weight NaN: the step is logged, not applied
        set_lr(optimizer, lr)
        optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    return {**out, "grad_norm": grad_norm, "finite": finite}


def weights_finite(acc: Accelerator, net: torch.nn.Module) -> bool:
    """Whether every weight on every rank is finite (checked before anything is saved from them)."""
    bad = sum(int(not torch.isfinite(p.detach()).all()) for p in net.parameters())
    return all_reduce_sum(acc, torch.tensor([bad], dtype=torch.float64)).item() == 0


def next_micro_batches(stream: Iterator, n_micro: int, micro_size: int, doc_masking: bool, layout: ParallelLayout,
                       reorder: bool = True) -> tuple[list[MicroBatch], dict[str, int]]:
    """This rank's micro-batches of one step (ordered by attention cost unless `reorder` is off, Table 15; with
    sequence parallelism this rank's chunk of each) and its tokens per domain (a group's tokens are counted once, on
    sp_rank 0)."""
    seqs = [next(stream) for _ in range(n_micro * micro_size)]
    groups = [seqs[i * micro_size:(i + 1) * micro_size] for i in range(n_micro)]
    if reorder:
        groups = order_by_attention_cost(groups)
    domains: dict[str, int] = {}
    for s in seqs if layout.sp_rank == 0 else ():
        domains[s.domain] = domains.get(s.domain, 0) + len(s.input_ids)
    return [make_micro_batch(g, doc_masking).shard(layout.sp_rank, layout.sp_size) for g in groups], domains


# ---- the loop ----------------------------------------------------------------------------------------------------------

def train(params: TrainParams, run_name: str | None = None, max_steps: int | None = None, *,
          data: DataSetup | None = None, on_step: Callable[[int, dict], None] | None = None) -> Run:
    """Run (or resume) one stage. `max_steps` stops early after that step (with a checkpoint) without changing the
    schedule; running again continues. `data` replaces the params' data (tests); `on_step(step, record)` is called
    after every logged step (tests use it to simulate a crash)."""
    p, t = params, params.train
    acc = setup_distributed(t.precision)
    # a layout this launch cannot run is refused before the run folder exists (it would block the corrected rerun)
    check_layout_fits(t.sequence_parallel_size, acc.num_processes, t.batch_size, t.micro_batch_size)
    name = run_name or p.run_name()
    run_params = {**p.to_dict(), "name": name}
    run = on_main_then_all(acc, lambda: Run.open("train", name, run_params))
    try:
        return _train(acc, p, run, max_steps, data, on_step)
    except BaseException as err:
        if acc.is_main_process:
            run.set_status("failed", f"{type(err).__name__}: {err}")
        raise


def _train(acc: Accelerator, p: TrainParams, run: Run, max_steps: int | None, data: DataSetup | None,
           on_step: Callable[[int, dict], None] | None) -> Run:
    t = p.train
    ckpt_root = run.path / "checkpoints"
    clear_partial(acc, ckpt_root)
    resume_from = choose_resume(acc, ckpt_root, run)
    if resume_from is not None and resume_from.name == f"step_{t.steps:06d}" and (run.path / MODEL_DIR).is_dir():
        if acc.is_main_process:
            run.set_status("done")
            print(f"{run.path}: already trained ({t.steps} steps)")
        return run

    world = acc.num_processes
    lay = init_layout(t.sequence_parallel_size)  # data-parallel groups of sequence_parallel_size ranks
    n_micro = lay.micro_batches_per_step(t.batch_size, t.micro_batch_size)  # raises if the batch does not split

    set_cpu_threads(t.cpu_threads)  # fixed at the tiny scale: the bits of a run depend on its thread count
    set_seed(t.seed)
    data = data or build_data(p, acc)
    init_run = resolve_run_dir(t.init_from) if t.init_from else None
    lm = init_model(p, data, init_run)
    step_flops = StepFlops.of(lm)  # before sharding
    net, optimizer = parallelize(lm, lay, acc, gradient_checkpointing=p.model.gradient_checkpointing,
                                 loss_block_size=p.model.loss_block_size,
                                 make_optimizer=lambda m: make_optimizer(m, p.optim, p.parity.decay_norm_weights))
    stream = data.stream_factory(lay.dp_rank, lay.dp_size)  # the ranks of a group read the same sequences

    step, tokens_per_domain, elapsed = 0, {}, 0.0
    if resume_from is not None:
        check_resumable(resume_from, world, lay.sp_size)
        state, data_state = load_checkpoint(acc, resume_from)
        stream.load_state_dict(data_state)
        step, tokens_per_domain, elapsed = state["step"], state["tokens_per_domain"], state.get("elapsed_s", 0.0)
        if acc.is_main_process:
            run.set_status("running", f"resumed from {resume_from.name}")
    if acc.is_main_process:  # the steps after the checkpoint (all of them without one) are logged again
        run.truncate_log(step)
    if resume_from is None and init_run is not None and t.load_optimizer:
        src = init_checkpoint(init_run, t.init_from)
        load_checkpoint(acc, src, data=False)  # model (same weights as its final model) and AdamW moments
        # ... and the LR schedule restarts at step 0
        reset_hyperparameters(optimizer, p.optim, p.parity.decay_norm_weights)
        set_seed(t.seed)

    stop = t.steps if max_steps is None else min(t.steps, max_steps)
    bar = None
    if acc.is_main_process and not quiet():
        from tqdm import tqdm

        bar = tqdm(total=t.steps, initial=step, desc=run.name, dynamic_ncols=True)
    net.train()
    bad_steps = 0  # consecutive steps with a non-finite loss or gradient norm
    while step < stop:
        t0 = time.perf_counter()
        micro_batches, domains = next_micro_batches(stream, n_micro, t.micro_batch_size, p.model.doc_masking, lay,
                                                    t.reorder_micro_batches)
        lr = lr_at(step, p.optim, t.steps)
        out = train_step(acc, net, optimizer, micro_batches, lr, p.optim.grad_clip, p.parity.loss_average)
        step += 1
        for rank_domains in gather_objects(acc, domains):
            for d, n in rank_domains.items():
                tokens_per_domain[d] = tokens_per_domain.get(d, 0) + n
        dt = time.perf_counter() - t0
        elapsed += dt
        # step totals over all ranks (chunk tokens add up to the sequences; attended pairs count on sp_rank 0 only)
        flops = step_flops(out["n_tokens"], out["attended_pairs"])
        record = {
            "step": step, "loss": out["loss"], "lr": lr, "grad_norm": out["grad_norm"],
            "tokens": sum(tokens_per_domain.values()), "tokens_per_domain": dict(tokens_per_domain),
            "n_targets": out["n_targets"], "tokens_per_s": out["n_tokens"] / dt,
            "peak_mem_gib": peak_memory_bytes(acc.device) / 2**30,
            "mfu": flops / (dt * t.peak_flops_per_device * world), "step_time_s": dt, "elapsed_s": elapsed,
        }
        bad_steps = 0 if out["finite"] else bad_steps + 1
        if bad_steps:
            record["skipped"] = True  # not applied: the weights are those of the last finite step
        if acc.is_main_process:
            run.log_step(record)
            if bar is not None:
                bar.update(1)
                bar.set_postfix(loss=f"{out['loss']:.3f}", lr=f"{lr:.2e}", tok_s=f"{record['tokens_per_s']:.0f}")
        if on_step is not None:
            on_step(step, record)
        if bad_steps >= MAX_NONFINITE_STEPS:
            raise TrainingDivergedError(
                f"{run.path}: loss or gradient norm non-finite for {bad_steps} steps in a row (steps "
                f"{step - bad_steps + 1}-{step}: loss {out['loss']}, grad norm {out['grad_norm']}); "
                f"{_kept(ckpt_root)}. Lower optim.lr or check the data")
        # no checkpoint inside a run of non-finite steps: the last good one stays the newest
        if (step % t.checkpoint_every == 0 or step == stop) and bad_steps == 0:
            _require_finite_weights(acc, net, run, step, ckpt_root)
            trainer_state = {"step": step, "tokens_per_domain": tokens_per_domain, "elapsed_s": elapsed,
                             "scheduler": {"next_step": step, "steps": t.steps, "lr": lr,
                                           "warmup_steps": warmup_steps(p.optim, t.steps),
                                           "min_lr_ratio": p.optim.min_lr_ratio},
                             "world_size": world, "sequence_parallel_size": lay.sp_size}
            save_checkpoint(acc, ckpt_root, step, trainer_state, stream.state_dict(), keep=t.keep_checkpoints)
    if bar is not None:
        bar.close()

    if step >= t.steps:
        _require_finite_weights(acc, net, run, step, ckpt_root)
        save_final_model(acc, net, run.path / MODEL_DIR, data.tokenizer_path,
                         save_dtype(t.precision, acc.device.type))
        if acc.is_main_process:
            run.set_status("done")
    elif acc.is_main_process:
        run.set_status("running", f"stopped at step {step} of {t.steps}; run again to continue")
    return run


def _kept(ckpt_root: Path) -> str:
    found = list_checkpoints(ckpt_root)
    return f"last good checkpoint kept: {found[-1][1]}" if found else "no checkpoint was written"


def _require_finite_weights(acc: Accelerator, net: torch.nn.Module, run: Run, step: int, ckpt_root: Path) -> None:
    if not weights_finite(acc, net):
        raise TrainingDivergedError(f"{run.path}: the weights are non-finite after step {step}; nothing saved from "
                                    f"them ({_kept(ckpt_root)}). Lower optim.lr or check the data")
