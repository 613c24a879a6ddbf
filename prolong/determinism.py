"""Bitwise-reproducible CPU runs. With the same commit, params and seeds, a run gives the same bits on every machine of
one kind only if the number of threads is fixed too: the threads that share a matrix product or a reduction decide
the order in which its floats are added. The tiny scale fixes it in its params (`train.cpu_threads`,
`cpu_threads` of the evaluation); 0 leaves torch's default (one thread per core)."""

from __future__ import annotations

import torch


def set_cpu_threads(n: int) -> None:
    """Run torch's CPU kernels on `n` threads (n > 0); 0 keeps the current setting."""
    if n > 0 and torch.get_num_threads() != n:
        torch.set_num_threads(n)
