"""Masked samples → one padded :data:`fourm_registry.batch.Batch` (padding is masked out)."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ..batch import Batch, ModalityBatch
from ..masking import MaskedModality
from ..tokens import PAD_ID


def pad_stack(arrays: Sequence[np.ndarray], fill: float | int | bool) -> torch.Tensor:
    """Stack arrays of different leading lengths, padding at the end (at least one slot)."""
    width = max(1, max(len(a) for a in arrays))
    first = arrays[0]
    out = np.full((len(arrays), width, *first.shape[1:]), fill, dtype=first.dtype)
    for i, a in enumerate(arrays):
        out[i, : len(a)] = a
    return torch.from_numpy(out)


def collate(samples: Sequence[dict[str, MaskedModality]]) -> Batch:
    batch: Batch = {}
    for name in samples[0]:
        items = [s[name] for s in samples]
        fill = PAD_ID if items[0].inputs.dtype.kind in "iu" else 0.0
        mb = ModalityBatch(pad_stack([m.inputs for m in items], fill),
                           pad_stack([m.input_mask for m in items], False))
        if items[0].targets is not None:
            mb.targets = pad_stack([m.targets for m in items], PAD_ID)  # type: ignore[misc]
            mb.target_mask = pad_stack([m.target_mask for m in items], False)  # type: ignore[misc]
        batch[name] = mb
    return batch
