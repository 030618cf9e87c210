"""Filling a token grid: MaskGIT (keep the most confident samples) and ROAR (random order).

Both work on ``tokens`` (B×N ids) and ``known`` (B×N bool: given or already decoded)
and ask ``logits_fn(tokens, known, positions)`` (positions B×K) for B×K×V predictions at
unknown cells. Every sample must have the same number of unknown cells (the decoder takes
one query set per batch).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import torch

from ..errors import FourmError
from .sampling import sample

LogitsFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


def unknown_positions(known: torch.Tensor) -> torch.Tensor:
    """B×K flat indices of the unknown cells, in grid order."""
    counts = (~known).sum(dim=1)
    if counts.numel() and not bool((counts == counts[0]).all()):
        raise FourmError(f"Every sample must leave the same number of tokens to generate; got "
                         f"{counts.tolist()}.")
    k = int(counts[0]) if counts.numel() else 0
    order = torch.argsort(known.to(torch.int8), dim=1, stable=True)  # unknown (0) first
    return order[:, :k]


def _write(tokens: torch.Tensor, known: torch.Tensor, pos: torch.Tensor,
           ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    tokens = tokens.scatter(1, pos, ids.to(tokens.dtype))
    known = known.scatter(1, pos, torch.ones_like(pos, dtype=torch.bool))
    return tokens, known


def maskgit_step(tokens: torch.Tensor, known: torch.Tensor, logits_fn: LogitsFn, count: int,
                 temperature: float, top_k: int | float = 0, top_p: float = 0.0,
                 generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Predict every unknown cell, sample each, keep the ``count`` most confident samples."""
    pos = unknown_positions(known)
    ids, probs = sample(logits_fn(tokens, known, pos), temperature, top_k, top_p, generator)
    keep = torch.topk(probs, count, dim=1).indices
    return _write(tokens, known, pos.gather(1, keep), ids.gather(1, keep))


def roar_step(tokens: torch.Tensor, known: torch.Tensor, logits_fn: LogitsFn, count: int,
              temperature: float, top_k: int | float = 0, top_p: float = 0.0,
              generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Pick ``count`` random unknown cells, predict and sample only those."""
    pos = unknown_positions(known)
    scores = torch.rand(pos.shape, generator=generator, device=pos.device)
    pick = pos.gather(1, torch.topk(scores, count, dim=1).indices)
    ids, _ = sample(logits_fn(tokens, known, pick), temperature, top_k, top_p, generator)
    return _write(tokens, known, pick, ids)


STEPS = {"maskgit": maskgit_step, "roar": roar_step}


def fill_grid(tokens: torch.Tensor, known: torch.Tensor, logits_fn: LogitsFn, scheme: str,
              counts: Sequence[int], temperatures: Sequence[float], top_k: int | float = 0,
              top_p: float = 0.0, generator: torch.Generator | None = None,
              on_step: Callable[[int, torch.Tensor, torch.Tensor], None] | None = None,
              ) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``len(counts)`` iterations of ``scheme``; iteration i fills ``counts[i]`` cells."""
    step = STEPS[scheme]
    remaining = int((~known[0]).sum()) if known.numel() else 0
    if sum(counts) > remaining:
        raise FourmError(f"The schedule fills {sum(counts)} tokens but only {remaining} are unknown.")
    for i, (count, temp) in enumerate(zip(counts, temperatures)):
        tokens, known = step(tokens, known, logits_fn, count, temp, top_k, top_p, generator)
        if on_step is not None:
            on_step(i, tokens, known)
    return tokens, known
