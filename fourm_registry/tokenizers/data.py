"""Training batches for a dense tokenizer: shard values → checked inputs → random square crops.

Raw values are shuffled in a small buffer (raw values are compact; checked inputs such as
one-hot class maps are not), prepared by the modality's adapter, and cropped to a random
square of 80–100 % of the short side, resized to the training resolution.
"""
from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from ..errors import FourmError
from ..shards import ReadStats, read_samples
from .adapter import BadValueError


def random_square(x: torch.Tensor, size: int, mode: str, rng: random.Random,
                  min_scale: float = 0.8) -> torch.Tensor:
    """C×H×W → C×size×size: a random square crop (80–100 % of the short side), resized."""
    _, h, w = x.shape
    side = max(1, int(min(h, w) * rng.uniform(min_scale, 1.0)))
    top, left = rng.randint(0, h - side), rng.randint(0, w - side)
    crop = x[:, top:top + side, left:left + side]
    if side == size:
        return crop
    kwargs = {"align_corners": False, "antialias": side > size} if mode == "bilinear" else {}
    return F.interpolate(crop[None], size=(size, size), mode=mode, **kwargs)[0]


def dense_batches(tokenizer: Any, shards: Any, registry: Any, batch_size: int, size: int,
                  seed: int = 0, buffer: int = 128, stats: ReadStats | None = None) -> Iterator[torch.Tensor]:
    """Endless B×C×size×size batches of ``tokenizer.spec``'s values from ``shards`` (epochs repeat).

    Bad values are skipped and counted in ``stats``; a pass without one good value raises.
    """
    name = tokenizer.spec.name
    rng = random.Random(seed)
    stats = stats if stats is not None else ReadStats()
    mode = tokenizer.adapter.resize
    pending: list[tuple[Any, Any]] = []
    batch: list[torch.Tensor] = []

    def prepared(key: Any, value: Any) -> torch.Tensor | None:
        try:
            x = tokenizer.prepare(value, repr(key))
        except BadValueError as exc:
            stats.skip(str(exc).split(": ", 2)[-1][:80])
            return None
        return random_square(torch.from_numpy(x), size, mode, rng)

    def add(item: tuple[Any, Any]) -> torch.Tensor | None:
        """Prepare one value into the batch; the full batch when it is complete."""
        nonlocal batch, good
        x = prepared(*item)
        if x is None:
            return None
        good += 1
        batch.append(x)
        if len(batch) < batch_size:
            return None
        full, batch = torch.stack(batch), []
        return full

    while True:
        good = 0
        for sample in read_samples(shards, registry, modalities=[name], stats=stats):
            pending.append((sample["__key__"], sample[name]))
            if len(pending) < buffer:
                continue
            full = add(pending.pop(rng.randrange(len(pending))))
            if full is not None:
                yield full
        rng.shuffle(pending)
        while pending:
            full = add(pending.pop())
            if full is not None:
                yield full
        if good == 0:
            raise FourmError(f"No usable {name!r} values in {shards!r} "
                             f"({stats.samples} samples read, {stats.skipped} skipped: {stats.reasons}).")


def tensor_batches(inputs: np.ndarray | torch.Tensor, batch_size: int, seed: int = 0) -> Iterator[torch.Tensor]:
    """Endless random batches from an in-memory N×C×H×W array (tests, benchmarks)."""
    data = torch.as_tensor(inputs, dtype=torch.float32)
    gen = torch.Generator().manual_seed(seed)
    while True:
        yield data[torch.randint(0, len(data), (batch_size,), generator=gen)]
