"""glibc's malloc, told to keep freed memory: torch's CPU buffers are then reused, not refaulted.

Why: glibc serves each block above its mmap threshold with a fresh ``mmap`` and unmaps it on
``free``, so every training step's activations fault in new zeroed pages. At the quickstart's
model size that was ~120,000 minor page faults and 0.22 s of kernel time in a 0.45 s step;
with mmap off and a 1 GiB trim threshold the step took 0.34 s (``benchmarks/bench_malloc.py``).
The cost: the heap keeps its peak size until the process ends. ``FOURM_MALLOC=system`` keeps
glibc's defaults; on other C libraries (musl, macOS) nothing changes.
"""
from __future__ import annotations

import ctypes
import os
import sys

M_TRIM_THRESHOLD, M_MMAP_MAX = -1, -4  # glibc's <malloc.h>
TRIM_BYTES = 1 << 30


def tune_malloc() -> bool:
    """Turn glibc's per-block mmap off and raise its trim threshold; True when it took effect."""
    if os.environ.get("FOURM_MALLOC") == "system" or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (OSError, AttributeError):
        return False
    mallopt.argtypes, mallopt.restype = [ctypes.c_int, ctypes.c_int], ctypes.c_int
    return mallopt(M_TRIM_THRESHOLD, TRIM_BYTES) == 1 and mallopt(M_MMAP_MAX, 0) == 1
