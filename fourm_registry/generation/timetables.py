"""Token and temperature timetables: how many tokens each decoding iteration fills, and how hot.

Pure functions of integers and floats so they can be checked (and planned) before any compute.
"""
from __future__ import annotations

import math

ONEX_SPAN = 100.0  # the 1/x curve is evaluated on [1, ONEX_SPAN]: steep early, flat late


def _cumulative(fractions: list[float], total: int, steps: int) -> list[int]:
    """Cumulative decoded counts after each step: every step ≥ 1 token, the last reaches ``total``."""
    out: list[int] = []
    prev = 0
    for i, frac in enumerate(fractions, start=1):
        c = round(total * frac)
        c = max(c, prev + 1)  # at least one token per step
        c = min(c, total - (steps - i))  # leave one token for each later step
        out.append(c)
        prev = c
    return out


def token_counts(kind: str, total: int, steps: int) -> list[int]:
    """Tokens filled per iteration for ``total`` tokens in exactly ``steps`` iterations.

    ``cosine``: the masked fraction after step i is cos(π/2 · i/steps) (MaskGIT): few tokens
    first, many at the end. ``linear``: equal shares (remainders go to the early steps).
    """
    if steps < 1:
        raise ValueError(f"steps must be ≥ 1, got {steps}")
    if total < steps:
        raise ValueError(f"cannot fill {total} tokens in {steps} steps (each step fills at least one)")
    if kind == "cosine":
        fracs = [1.0 - math.cos(math.pi / 2 * i / steps) for i in range(1, steps + 1)]
    elif kind == "linear":
        base, extra = divmod(total, steps)
        return [base + (1 if i < extra else 0) for i in range(steps)]
    else:
        raise ValueError(f"unknown token schedule {kind!r} (cosine, linear)")
    cum = _cumulative(fracs, total, steps)
    return [b - a for a, b in zip([0, *cum[:-1]], cum)]


def onex_decay(fraction: float, power: float) -> float:
    """1 at fraction 0, 0 at fraction 1, falling like 1/x**power in between."""
    x = 1.0 + fraction * (ONEX_SPAN - 1.0)
    floor = ONEX_SPAN ** (-power)
    return (x ** (-power) - floor) / (1.0 - floor)


def temperature_at(kind: str, temperature: float, fraction: float,
                   min_temperature: float = 0.0, power: float = 0.5) -> float:
    """Temperature when ``fraction`` ∈ [0, 1) of the target's tokens are already decoded.

    ``constant``: always ``temperature``; ``linear``: falls linearly to 0 as tokens fill in;
    ``onex``: falls from ``temperature`` to ``min_temperature`` along a 1/x curve.
    """
    if kind == "constant":
        return temperature
    if kind == "linear":
        return temperature * (1.0 - fraction)
    if kind == "onex":
        return min_temperature + (temperature - min_temperature) * onex_decay(fraction, power)
    raise ValueError(f"unknown temperature schedule {kind!r} (constant, linear, onex)")


def temperatures_for(counts: list[int], kind: str, temperature: float,
                     min_temperature: float = 0.0, power: float = 0.5) -> list[float]:
    """One temperature per iteration, from the fraction decoded before that iteration."""
    total = sum(counts)
    done, out = 0, []
    for c in counts:
        out.append(temperature_at(kind, temperature, done / total, min_temperature, power))
        done += c
    return out
