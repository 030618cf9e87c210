"""Repeat sampling: each decoded sample is used ``repeats`` times (masked afresh each time).

Decoding is the expensive part of the stream; 4M reuses every decoded sample several times
with different masks. A buffer of ``size`` samples is drawn from at random so the repeats of
one sample spread over several batches; a sample leaves the buffer after its last use.
"""
from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import TypeVar

import numpy as np

T = TypeVar("T")


def repeat_sampling(samples: Iterable[T], repeats: int, size: int, rng: np.random.Generator) -> Iterator[T]:
    if repeats <= 1:
        yield from samples
        return
    buffer: list[list] = []  # [sample, uses]

    def emit() -> T:
        i = int(rng.integers(len(buffer)))
        item = buffer[i]
        item[1] += 1
        if item[1] >= repeats:
            buffer[i] = buffer[-1]
            buffer.pop()
        return item[0]

    for sample in samples:
        buffer.append([sample, 0])
        while len(buffer) >= size:
            yield emit()
    while buffer:
        yield emit()
