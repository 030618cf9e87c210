"""Held-out evaluation: per-modality losses on the same batches with the same masks every time.

The caller builds the held-out loader afresh from a fixed seed for each evaluation, so every
evaluation sees identical samples and masks and the curves are comparable. The global RNG
is forked, so evaluating does not change what training does next (exact resume relies on it).
"""
from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
import torch.distributed as dist

from ..batch import Batch
from .batching import move_batch


@torch.no_grad()
def evaluate(model: Any, loader: Iterable[Batch], num_batches: int,
             device: torch.device, float_dtype: torch.dtype | None = None) -> dict[str, float]:
    """Mean loss per target modality (and overall) over ``num_batches``, averaged over ranks."""
    was_training = model.training
    model.eval()
    sums: dict[str, float] = {}
    counts: dict[str, int] = {}
    try:
        with torch.random.fork_rng(devices=[]):
            for i, batch in enumerate(loader):
                if i >= num_batches:
                    break
                out = model(move_batch(batch, device, float_dtype))
                for name, value in {"loss": out.loss, **out.losses}.items():
                    v = float(value)
                    if v == v and abs(v) != float("inf"):  # finite only
                        sums[name] = sums.get(name, 0.0) + v
                        counts[name] = counts.get(name, 0) + 1
    finally:
        model.train(was_training)
    return _reduce(sums, counts)


def _reduce(sums: dict[str, float], counts: dict[str, int]) -> dict[str, float]:
    """Average over batches and ranks (every rank must call this: it is a collective)."""
    if dist.is_available() and dist.is_initialized() and dist.get_world_size() > 1:
        names: list[list[str]] = [None] * dist.get_world_size()  # type: ignore[list-item]
        dist.all_gather_object(names, sorted(sums))
        keys = sorted(set().union(*names))
        t = torch.tensor([[sums.get(k, 0.0), counts.get(k, 0)] for k in keys], dtype=torch.float64)
        dist.all_reduce(t)
        means = {k: float(s / c) for k, (s, c) in zip(keys, t.tolist()) if c}
    else:
        means = {k: sums[k] / counts[k] for k in sums if counts[k]}
    return dict(sorted(means.items(), key=lambda kv: (kv[0] != "loss", kv[0])))
