"""``color_palette``: 1–7 dominant colours, written ``v1=<n> v0=R v0=G v0=B …`` (4M-21)."""
from __future__ import annotations

from typing import Any

import numpy as np

from fourm_4m21_common.coords import coord, coord_words, parse_coord
from fourm_4m21_common.draw import swatches
from fourm_registry import LabelerSpec, MaskingSpec, ModalityKind, ModalitySpec, TokenizerSpec
from fourm_registry.codecs import json_codec
from fourm_registry.tokenizers import sequence_tokenizer_factory

from .labeler import MAX_COLORS, make_labeler

Palette = list[list[int]]


def check_palette(value: Any) -> Palette:
    """A list of 1–7 ``[R, G, B]`` integer colours in 0…255, or ``ValueError``."""
    colors = [list(c) for c in value] if isinstance(value, list | tuple) else None
    if not colors or len(colors) > MAX_COLORS:
        raise ValueError(f"a colour palette holds 1..{MAX_COLORS} colours, got {value!r:.80}")
    for c in colors:
        if len(c) != 3 or not all(isinstance(v, int | np.integer) and 0 <= v <= 255 for v in c):
            raise ValueError(f"colour {c!r} is not [R, G, B] integers in 0..255")
    return [[int(v) for v in c] for c in colors]


def to_text(value: Any) -> str:
    colors = check_palette(value)
    return " ".join([coord(1, len(colors))] + [coord(0, v) for c in colors for v in c])


def from_text(text: str) -> Palette:
    """Parse (possibly generated) text; stray words and incomplete colours are dropped."""
    count, values = None, []
    for word in coord_words(text):
        parsed = parse_coord(word)
        if parsed is None:
            continue
        axis, v = parsed
        if axis == 1 and count is None and not values:
            count = v
        elif axis == 0:
            values.append(min(v, 255))
    colors = [values[i:i + 3] for i in range(0, len(values) - 2, 3)]
    return colors[: min(count or MAX_COLORS, MAX_COLORS)]


def examples(spec: Any, rng: np.random.Generator) -> list[Palette]:
    """Palettes of every length, for conformance tests."""
    return [rng.integers(0, 256, size=(n, 3)).tolist() for n in range(1, MAX_COLORS + 1)]


def distance(a: Any, b: Any) -> float:
    """Largest channel difference between two palettes (infinite if their lengths differ)."""
    if len(a) != len(b):
        return float("inf")
    return float(np.abs(np.asarray(a, float) - np.asarray(b, float)).max()) if len(a) else 0.0


SPEC = ModalitySpec(
    name="color_palette",
    domains=("color_palette",),  # its name in ml-4m checkpoints
    kind=ModalityKind.SEQUENCE,
    description="Colour palette: 1-7 dominant colours",
    value="list of 1-7 [R, G, B] ints 0-255, most frequent first",
    tokenizer=TokenizerSpec(vocab_size=30000, max_length=23, shared="text",
                            factory=sequence_tokenizer_factory),
    masking=MaskingSpec(rule="span"),
    codec=json_codec(check=check_palette),
    labeler=LabelerSpec(name="kmeans_palette", modality="color_palette", factory=make_labeler,
                        description="k-means on pixels (scipy); clusters under 3% of pixels dropped"),
    to_text=to_text,
    from_text=from_text,
    draw=lambda value: swatches(value),
    extras={"examples": examples, "distance": distance, "roundtrip_tolerance": 0.0},
)
