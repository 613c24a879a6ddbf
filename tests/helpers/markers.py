"""The test suite's markers, one definition each (registered in pyproject.toml).

    requires_gpu   needs CUDA: skipped without it (run them on a GPU machine with `pytest -m requires_gpu`)
    integration    multi-process or end-to-end (trains, evaluates, runs notebooks); `make test` runs them too,
                   `make test-unit` leaves them out
"""

from __future__ import annotations

import pytest
import torch

requires_gpu = pytest.mark.requires_gpu
integration = pytest.mark.integration


def skip_without_cuda(items: list[pytest.Item]) -> None:
    """Skip every collected test marked requires_gpu when this machine has no CUDA device."""
    if torch.cuda.is_available():
        return
    skip = pytest.mark.skip(reason="needs CUDA (requires_gpu)")
    for item in items:
        if item.get_closest_marker("requires_gpu") is not None:
            item.add_marker(skip)
