"""Turning logits into token ids: temperature, top-k / top-p filtering, seeded sampling.

All functions take ``…×V`` logits and never modify them in place. Randomness comes only
from the ``torch.Generator`` passed in, so a seed reproduces a run exactly.
"""
from __future__ import annotations

import torch

GREEDY_BELOW = 1e-6  # temperatures below this mean argmax


def top_k_count(top_k: int | float, vocab: int) -> int:
    """``top_k`` as a token count: ints are counts, floats in (0, 1) a fraction of ``vocab``; 0 = off."""
    if isinstance(top_k, float) and 0 < top_k < 1:
        return max(1, int(top_k * vocab))
    return min(int(top_k), vocab)


def filter_logits(logits: torch.Tensor, top_k: int | float = 0, top_p: float = 0.0) -> torch.Tensor:
    """Logits with everything outside the top-k and outside the top-p nucleus set to -inf.

    The most likely token always survives, so every row keeps at least one candidate.
    """
    out = logits
    k = top_k_count(top_k, logits.shape[-1])
    if 0 < k < logits.shape[-1]:
        kth = torch.topk(out, k, dim=-1).values[..., -1:]
        out = out.masked_fill(out < kth, float("-inf"))
    if 0 < top_p < 1:
        sorted_logits, order = torch.sort(out, dim=-1, descending=True)
        cum = torch.softmax(sorted_logits.float(), dim=-1).cumsum(-1)
        drop_sorted = (cum - torch.softmax(sorted_logits.float(), dim=-1)) >= top_p
        drop = torch.zeros_like(drop_sorted).scatter(-1, order, drop_sorted)
        out = out.masked_fill(drop, float("-inf"))
    return out


def categorical(probs: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """One id per row of ``rows×V`` non-negative weights (rows need not sum to 1).

    Inverts each row's float64 CDF at one uniform draw. ``torch.multinomial`` draws V
    exponentials per row instead, and that one sequential stream was 30 % of a tiny model's
    MaskGIT step (196 rows × 8192 codes; ``benchmarks/bench_sampling.py``). The distribution is
    the same; the ids drawn for a given seed are not. A zero-weight id is never drawn: the
    point is kept strictly below the row's total, so the first CDF entry above it has weight.
    """
    cdf = probs.cumsum(dim=-1, dtype=torch.float64)
    total = cdf[:, -1:]
    u = torch.rand(total.shape, dtype=torch.float64, generator=generator, device=probs.device)
    point = torch.minimum(u * total, torch.nextafter(total, torch.zeros_like(total)))
    return torch.searchsorted(cdf, point, right=True).squeeze(-1)


def sample(logits: torch.Tensor, temperature: float, top_k: int | float = 0, top_p: float = 0.0,
           generator: torch.Generator | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample one id per ``…×V`` row; return ``(ids …, probability of each id …)``.

    Temperature 0 is argmax (its probability is the softmax maximum, used for MaskGIT
    confidence). Otherwise ids are drawn from ``softmax(filtered / temperature)``.
    """
    shape = logits.shape[:-1]
    flat = logits.reshape(-1, logits.shape[-1]).float()
    if temperature < GREEDY_BELOW:
        probs = torch.softmax(flat, dim=-1)
        ids = flat.argmax(dim=-1)
    else:
        probs = torch.softmax(filter_logits(flat, top_k, top_p) / temperature, dim=-1)
        ids = categorical(probs, generator)
    chosen = probs.gather(-1, ids[:, None]).squeeze(-1)
    return ids.reshape(shape), chosen.reshape(shape)


def make_generator(seed: int | None, device: torch.device | str = "cpu") -> torch.Generator:
    """A private generator: seeded when ``seed`` is given, else from fresh OS entropy."""
    gen = torch.Generator(device=device)
    if seed is None:
        gen.seed()
    else:
        gen.manual_seed(int(seed))
    return gen
