"""Coordinate-token text (``v0=123``) as 4M-21's sequence modalities write it.

The shared text vocabulary has four axes of 1000 coordinate tokens (``v0=0`` … ``v3=999``,
see :mod:`fourm_registry.tokens`). Sequence plugins write numbers with them; ids of a
1024-code VQ tokenizer take two axes (``v0=i`` below 512, ``v1=i-512`` above), as 4M-21 does.
"""
from __future__ import annotations

import re

from fourm_registry.tokens import COORD_BINS, NUM_COORD_AXES

_COORD = re.compile(r"^v([0-9])=([0-9]+)$")
HALF = 512  # a 1024-code id is written on two axes of 512


def coord(axis: int, value: float) -> str:
    """The token for ``value`` (rounded, clipped to the bins) on ``axis``."""
    if not 0 <= axis < NUM_COORD_AXES:
        raise ValueError(f"coordinate axis {axis} outside 0..{NUM_COORD_AXES - 1}")
    return f"v{axis}={int(min(max(round(float(value)), 0), COORD_BINS - 1))}"


def parse_coord(word: str) -> tuple[int, int] | None:
    """``'v2=17'`` → ``(2, 17)``; anything else (a word, a malformed token) → ``None``."""
    m = _COORD.match(word.strip())
    if m is None:
        return None
    axis, value = int(m.group(1)), int(m.group(2))
    if axis >= NUM_COORD_AXES or value >= COORD_BINS:
        return None
    return axis, value


def coord_words(text: str) -> list[str]:
    """Whitespace-separated words of a (possibly generated) text, lower-cased."""
    return [w for w in text.lower().split() if w]


def quantize(x: float, lo: float, hi: float, bins: int = COORD_BINS) -> int:
    """Map ``x`` in ``[lo, hi]`` (clipped) to a bin ``0..bins-1``."""
    t = (min(max(float(x), lo), hi) - lo) / (hi - lo)
    return int(round(t * (bins - 1)))


def dequantize(i: int, lo: float, hi: float, bins: int = COORD_BINS) -> float:
    """The value at the centre of bin ``i`` (the inverse of :func:`quantize`)."""
    return lo + (hi - lo) * int(i) / (bins - 1)


def id_to_word(idx: int) -> str:
    """A 0..1023 VQ code as one coordinate token (``v0=i`` or ``v1=i-512``)."""
    idx = int(idx)
    if not 0 <= idx < 2 * HALF:
        raise ValueError(f"code {idx} outside 0..{2 * HALF - 1}")
    return f"v0={idx}" if idx < HALF else f"v1={idx - HALF}"


def id_from_word(word: str) -> int | None:
    """The inverse of :func:`id_to_word`; ``None`` for a word that is not such a token."""
    parsed = parse_coord(word)
    if parsed is None or parsed[0] > 1 or parsed[1] >= HALF:
        return None
    return parsed[1] + HALF * parsed[0]
