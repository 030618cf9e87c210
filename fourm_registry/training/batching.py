"""Small batch helpers for the training loop: device/dtype moves and token counting."""
from __future__ import annotations

from dataclasses import replace

import torch

from ..batch import Batch, batch_to


def move_batch(batch: Batch, device: torch.device, float_dtype: torch.dtype | None = None) -> Batch:
    """``batch`` on ``device``; float inputs (pixel patches, embeddings) cast to the engine's dtype."""
    moved = batch_to(batch, device)
    if float_dtype is None:
        return moved
    return {name: (replace(mb, inputs=mb.inputs.to(float_dtype)) if mb.inputs.is_floating_point() else mb)
            for name, mb in moved.items()}


def count_tokens(batch: Batch) -> int:
    """Tokens this batch trains on: encoder inputs plus decoder targets (4M's token budget)."""
    total = 0
    for mb in batch.values():
        total += int(mb.input_mask.sum())
        if mb.target_mask is not None:
            total += int(mb.target_mask.sum())
    return total
