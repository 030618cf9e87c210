"""Packing the selected tokens of several modalities into one padded sequence per sample.

Only the tokens a mask selects are embedded; they are then scattered into a ``B×K`` layout
(K = the largest per-sample total), modality after modality, padding last. The attention
masks of the encoder and decoder are built from that layout.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch


@dataclass
class Part:
    """T selected tokens of one modality: sample index, position, content and position+modality."""

    group: int
    rows: torch.Tensor  # T sample indices, sorted (as ``nonzero`` returns them)
    positions: torch.Tensor  # T positions within the modality
    x: torch.Tensor  # T×D
    emb: torch.Tensor  # T×D
    causal: bool = False  # decoder: attend only to earlier positions of the same modality


@dataclass
class Packed:
    x: torch.Tensor  # B×K×D
    emb: torch.Tensor  # B×K×D
    valid: torch.Tensor  # B×K bool
    group: torch.Tensor  # B×K long, -1 on padding
    positions: torch.Tensor  # B×K long
    causal: torch.Tensor  # B×K bool
    slots: list[tuple[torch.Tensor, torch.Tensor]] = field(default_factory=list)  # per part: (rows, slot)


def pack(parts: list[Part], batch_size: int, dim: int, like: torch.Tensor) -> Packed:
    """Scatter ``parts`` into ``B×K`` tensors; ``like`` gives dtype and device."""
    device = like.device
    offset = torch.zeros(batch_size, dtype=torch.long, device=device)
    rows, slots = [], []
    for part in parts:
        counts = torch.bincount(part.rows, minlength=batch_size)
        start = torch.cumsum(counts, 0) - counts  # first flat index of each sample
        rank = torch.arange(part.rows.numel(), device=device) - start[part.rows]
        slot = offset[part.rows] + rank
        rows.append(part.rows)
        slots.append(slot)
        offset = offset + counts
    width = max(int(offset.max()) if parts else 0, 1)
    r = torch.cat(rows) if rows else torch.zeros(0, dtype=torch.long, device=device)
    s = torch.cat(slots) if slots else torch.zeros(0, dtype=torch.long, device=device)

    def scatter(values: list[torch.Tensor], fill: float | int | bool, shape: tuple, dtype) -> torch.Tensor:
        base = torch.full((batch_size, width, *shape), fill, dtype=dtype, device=device)
        return base.index_put((r, s), torch.cat(values)) if values else base

    lengths = [p.rows.numel() for p in parts]
    return Packed(
        x=scatter([p.x for p in parts], 0.0, (dim,), like.dtype),
        emb=scatter([p.emb for p in parts], 0.0, (dim,), like.dtype),
        valid=scatter([torch.ones(n, dtype=torch.bool, device=device) for n in lengths], False, (), torch.bool),
        group=scatter([torch.full((n,), p.group, device=device) for p, n in zip(parts, lengths)], -1, (),
                      torch.long),
        positions=scatter([p.positions for p in parts], 0, (), torch.long),
        causal=scatter([torch.full((n,), p.causal, device=device) for p, n in zip(parts, lengths)], False,
                       (), torch.bool),
        slots=list(zip(rows, slots)),
    )


def key_mask(valid: torch.Tensor) -> torch.Tensor | None:
    """``B×1×1×K`` mask of the keys a query may see, or None when nothing is padding.

    A sample without any valid key keeps its first slot, so no attention row is empty.
    """
    if bool(valid.all()):
        return None
    valid = valid.clone()
    valid[:, 0] |= ~valid.any(dim=1)
    return valid[:, None, None, :]


def decoder_self_mask(packed: Packed) -> torch.Tensor:
    """``B×1×K×K``: tokens see only their own modality, causally inside sequence modalities.

    Padding tokens form a group of their own, so their rows are never empty.
    """
    same = packed.group[:, :, None] == packed.group[:, None, :]
    earlier = packed.positions[:, None, :] <= packed.positions[:, :, None]
    return (same & (earlier | ~packed.causal[:, :, None]))[:, None]
