"""Splitting a token budget across modalities with a Dirichlet draw (as 4M does).

``floor(p · total)`` tokens each, the remainder handed out one by one to the argmax of fresh
draws (so modalities with alpha 0 never get any), clipped to each modality's maximum, and
redrawn until every minimum is met.
"""
from __future__ import annotations

import numpy as np


def dirichlet_split(rng: np.random.Generator, alphas: np.ndarray, total: int) -> np.ndarray:
    """``total`` tokens split across modalities; alpha 0 means none."""
    budget = np.zeros(len(alphas), dtype=np.int64)
    active = np.flatnonzero(alphas > 0)
    if total <= 0 or active.size == 0:
        return budget
    share = np.floor(rng.dirichlet(alphas[active]) * total).astype(np.int64)
    rest = total - int(share.sum())
    if rest > 0:
        winners = rng.dirichlet(alphas[active], size=rest).argmax(axis=1)
        share += np.bincount(winners, minlength=active.size)
    budget[active] = share
    return budget


def sample_budget(rng: np.random.Generator, alphas: np.ndarray, total: int, min_tokens: np.ndarray,
                  max_tokens: np.ndarray, tries: int = 100) -> np.ndarray:
    """A per-modality budget within ``[min, max]``; minima above the maximum are lowered to it.

    After ``tries`` draws that miss a minimum, the last draw is raised to the minima (the
    total may then exceed ``total``).
    """
    low = np.minimum(min_tokens, max_tokens)
    budget = np.zeros_like(max_tokens)
    for _ in range(tries):
        budget = np.minimum(dirichlet_split(rng, alphas, total), max_tokens)
        if (budget >= low).all():
            return budget
    return np.clip(budget, low, max_tokens)
