"""``metadata``: image statistics as ``v1=<field id> v0=<bin>`` pairs in shuffled order (4M-21)."""
from __future__ import annotations

import random
from typing import Any

import numpy as np

from fourm_4m21_common.coords import coord, coord_words, parse_coord
from fourm_4m21_common.draw import card
from fourm_registry import LabelerSpec, MaskingSpec, ModalityKind, ModalitySpec, TokenizerSpec
from fourm_registry.codecs import json_codec
from fourm_registry.tokenizers import sequence_tokenizer_factory

from .fields import BY_ID, FIELDS
from .labeler import make_labeler


def check_metadata(value: Any) -> dict[str, float]:
    """A dict of known field → finite number, or ``ValueError`` naming the bad entry."""
    if not isinstance(value, dict):
        raise ValueError(f"metadata must be a dict of field → number, got {type(value).__name__}")
    out = {}
    for key, v in value.items():
        if key not in FIELDS:
            raise ValueError(f"unknown metadata field {key!r} (known: {', '.join(FIELDS)})")
        if isinstance(v, bool) or not isinstance(v, int | float | np.number) or not np.isfinite(v):
            raise ValueError(f"metadata {key!r} must be a finite number, got {v!r}")
        out[key] = float(v) if isinstance(v, float | np.floating) else int(v)
    return out


def to_text(value: Any) -> str:
    items = list(check_metadata(value).items())
    random.shuffle(items)  # 4M-21 shuffles the fields so any subset can condition the rest
    return " ".join(f"{coord(1, FIELDS[k].id)} {coord(0, FIELDS[k].to_bin(v))}" for k, v in items)


def from_text(text: str) -> dict[str, float]:
    """Pairs ``v1=<id> v0=<bin>`` → field values (bin centres); unknown or broken pairs are skipped."""
    out: dict[str, float] = {}
    field = None
    for word in coord_words(text):
        parsed = parse_coord(word)
        if parsed is None:
            field = None
        elif parsed[0] == 1:
            field = BY_ID.get(parsed[1])
        elif parsed[0] == 0 and field is not None:
            out.setdefault(field.name, field.from_bin(parsed[1]))
            field = None
    return out


def distance(a: Any, b: Any) -> float:
    """Largest difference in bins between two metadata dicts (infinite if their fields differ)."""
    if set(a) != set(b):
        return float("inf")
    return float(max((abs(FIELDS[k].to_bin(a[k]) - FIELDS[k].to_bin(b[k])) for k in a), default=0))


def examples(spec: Any, rng: np.random.Generator) -> list[dict[str, float]]:
    full = {name: float(rng.uniform(f.lo, f.hi)) if f.kind == "range" else int(rng.integers(0, 2000))
            for name, f in FIELDS.items()}
    return [full, {"original_width": 640, "original_height": 480, "brightness": 120.5}, {}]


def key_value_chunks(ids: list[int]) -> list[int]:
    """Sizes of the ``v1=<field> v0=<bin>`` chunks of a token sequence: span masking keeps or
    hides each field's key and value together, as 4M-21 does."""
    from fourm_registry.tokens import COORD_BASE, COORD_BINS

    key_lo, key_hi = COORD_BASE + COORD_BINS, COORD_BASE + 2 * COORD_BINS
    chunks: list[int] = []
    for i, t in enumerate(ids):
        if i == 0 or key_lo <= int(t) < key_hi:
            chunks.append(1)
        else:
            chunks[-1] += 1
    return chunks


def draw(value: Any):
    return card([f"{k}: {v:.4g}" for k, v in check_metadata(value).items()])


SPEC = ModalitySpec(
    name="metadata",
    domains=("metadata",),  # its name in ml-4m checkpoints
    kind=ModalityKind.SEQUENCE,
    description="Image metadata: size, brightness, contrast, colourfulness, counts…",
    value="dict field → number (raw statistics, e.g. {'brightness': 118.2, 'n_humans': 2})",
    tokenizer=TokenizerSpec(vocab_size=30000, max_length=42, shared="text",
                            factory=sequence_tokenizer_factory),
    masking=MaskingSpec(rule="span"),
    codec=json_codec(check=check_metadata),
    labeler=LabelerSpec(name="image_statistics", modality="metadata", factory=make_labeler,
                        inputs="sample", reads=("caption", "det", "human_poses", "sam_instance"),
                        description="size, brightness, contrast, saturation, colourfulness, entropy "
                                    "+ caption/instance counts of the sample's other fields"),
    to_text=to_text,
    from_text=from_text,
    draw=draw,
    extras={"examples": examples, "distance": distance, "roundtrip_tolerance": 0.0,
            "span_chunks": key_value_chunks},
)
