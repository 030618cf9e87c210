"""Autoregressive decoding of a sequence modality until a stop id (``[EOS]`` or a sentinel).

The decoder is a :class:`~.protocol.SequenceDecoder`: with a KV cache it runs one new position
per call; without, it reruns the whole prefix. Both give the same ids (a test checks).
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Sequence

import torch

from .sampling import sample

NextLogits = Callable[[torch.Tensor], torch.Tensor]  # B×T ids → B×V guided logits


def decode_sequence(next_logits: NextLogits, start: Sequence[int], batch_size: int,
                    max_new: int, stop: Collection[int], pad_id: int,
                    temperature_at: Callable[[float], float], top_k: int | float = 0,
                    top_p: float = 0.0, generator: torch.Generator | None = None,
                    device: torch.device | str = "cpu") -> list[list[int]]:
    """Generate up to ``max_new`` ids per sample after ``start``; return each sample's ids
    before its first stop id. Samples that stopped keep receiving ``pad_id`` until all stop.
    ``temperature_at(fraction of max_new done)`` gives each position's temperature."""
    tokens = torch.tensor([list(start)] * batch_size, dtype=torch.long, device=device)
    done = torch.zeros(batch_size, dtype=torch.bool, device=device)
    stop_t = torch.tensor(sorted(stop), dtype=torch.long, device=device)
    for i in range(max_new):
        logits = next_logits(tokens)
        ids, _ = sample(logits, temperature_at(i / max_new), top_k, top_p, generator)
        ids = torch.where(done, torch.full_like(ids, pad_id), ids)
        tokens = torch.cat([tokens, ids[:, None]], dim=1)
        done |= torch.isin(ids, stop_t)
        if bool(done.all()):
            break
    out: list[list[int]] = []
    for row, stopped in zip(tokens[:, len(start):].tolist(), done.tolist()):
        end = next((j for j, t in enumerate(row) if t in stop), len(row))
        out.append(row[:end])
    return out
