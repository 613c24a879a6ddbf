"""The evaluation of a graph's models: `evaluate` one node into its run (once; logged runs are reused), and
`evaluate_all` of them side by side on a CPU: one process per `cpu_threads` worth of cores.

At the tiny scale an evaluation is many small prefills and greedy decodes of a 1M-parameter model, which two threads
share poorly: two one-thread evaluations at once finish 1.46x sooner than the same two run one after the other on two
threads (measured on a 2-core machine). A run's bits depend on its thread count, not on which process ran it, so the
scores are the same either way (prolong/determinism.py). Where the evaluation leaves the thread count to torch
(`cpu_threads: 0`: the paper and small scales, on a GPU) there is one worker and everything runs in this process.
Workers are spawned (a fresh interpreter: no forked torch state) and take the evaluation nodes, plain data.
"""

from __future__ import annotations

import multiprocessing as mp
import os
import time
from collections.abc import Callable, Iterable

from prolong.eval.config import EvalConfig
from prolong.eval.runner import evaluate_model, load_model
from prolong.experiments.graph import EvalNode
from prolong.runs import MODEL_DIR, Run


def pool_size(nodes: list[EvalNode], cores: int | None = None) -> int:
    """Worker processes for `nodes`: cores // cpu_threads when every node fixes its thread count, else 1."""
    threads = {int(n.config.get("cpu_threads") or 0) for n in nodes}
    if not nodes or 0 in threads:
        return 1
    cores = cores or os.cpu_count() or 1
    return max(1, min(len(nodes), cores // max(threads)))


def evaluate(node: EvalNode, log=print) -> Run:
    """Evaluate a finished stage's model once into `eval/<model>-<fingerprint>` (skipped when logged), so arms of
    several experiments that share a model share its evaluation."""
    cfg = EvalConfig.from_dict(node.config, node.ref)
    run = Run.open("eval", node.name, node.params)
    if run.is_done():
        log(f"  = {node.ref} (logged)")
        return run
    t0 = time.perf_counter()
    try:
        model, tok = load_model(Run.at(node.model).path / MODEL_DIR, cfg)
        evaluate_model(model, tok, cfg, run)
    except BaseException as err:
        run.set_status("failed", f"{type(err).__name__}: {err}")
        raise
    run.set_status("done")
    log(f"  + {node.ref} ({time.perf_counter() - t0:.0f}s)")
    return run


def _evaluate_in_worker(node: EvalNode) -> list[str]:
    lines: list[str] = []
    evaluate(node, lines.append)
    return lines


def evaluate_all(nodes: Iterable[EvalNode], log: Callable[[str], None], workers: int | None = None) -> None:
    """Run every node not logged as done (each once, in order of first appearance) through `evaluate`: in this
    process when there is one worker, else in a pool of spawned workers. A failed evaluation marks its run failed
    and is raised here after the others have finished."""
    unique: dict[str, EvalNode] = {}
    for node in nodes:
        unique.setdefault(node.ref, node)
    pending = []
    for node in unique.values():
        if Run.at(node.ref).is_done():
            log(f"  = {node.ref} (logged)")
        else:
            pending.append(node)
    workers = pool_size(pending) if workers is None else workers
    if workers <= 1 or len(pending) <= 1:
        for node in pending:
            evaluate(node, log)
        return
    log(f"  evaluating {len(pending)} models in {workers} processes")
    errors = []
    pool = mp.get_context("spawn").Pool(workers)
    try:
        results = [pool.apply_async(_evaluate_in_worker, (n,)) for n in pending]
        for node, result in zip(pending, results):
            try:
                for line in result.get():
                    log(line)
            except Exception as err:  # noqa: BLE001 - the others finish; the first failure is raised below
                log(f"  ! {node.ref}: {type(err).__name__}: {err}")
                errors.append(err)
    except BaseException:
        pool.terminate()  # interrupted: stop the workers
        raise
    else:
        pool.close()  # every task done: the workers exit on their own, not signalled (terminate() would)
    finally:
        pool.join()
    if errors:
        raise errors[0]
