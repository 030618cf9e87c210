"""Deterministic kernels without torch's NaN-filling of every new tensor.

``torch.use_deterministic_algorithms(True)`` also turns on
``torch.utils.deterministic.fill_uninitialized_memory``: every ``torch.empty`` is then
written once with NaN, so that a kernel reading memory it never wrote would show it. The
kernels fourm runs write their outputs before reading them, and at the quickstart's model
size that fill cost 12 % of a train step (``benchmarks/bench_malloc.py``, its "NaN fill"
rows). Results stay byte-identical run to run (``tests/test_quickstart_determinism.py``).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def deterministic_kernels(enabled: bool = True, warn_only: bool = False) -> Iterator[None]:
    """Deterministic algorithms on (fill off) inside; both switches restored on exit."""
    was, was_warn = torch.are_deterministic_algorithms_enabled(), torch.is_deterministic_algorithms_warn_only_enabled()
    was_fill = torch.utils.deterministic.fill_uninitialized_memory
    if enabled:
        torch.use_deterministic_algorithms(True, warn_only=warn_only)
        torch.utils.deterministic.fill_uninitialized_memory = False
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was, warn_only=was_warn)
        torch.utils.deterministic.fill_uninitialized_memory = was_fill
