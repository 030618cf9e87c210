"""The metadata fields, their token ids (``v1=<id>``) and how each value is binned (``v0=<bin>``).

Ids and bin ranges follow 4M-21: image sides in bins of 32 px, counts as they are (up to
999), manual thresholds for scores, and 50 equal bins over a fixed range for the rest.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

MAX_BIN = 999


@dataclass(frozen=True)
class Field:
    name: str
    id: int
    kind: str  # "side" | "count" | "thresholds" | "range"
    lo: float = 0.0
    hi: float = 1.0
    bins: int = 50
    thresholds: tuple[float, ...] = ()

    def to_bin(self, value: float) -> int:
        v = float(value)
        if not math.isfinite(v):
            raise ValueError(f"metadata {self.name!r} is not a finite number: {value!r}")
        if self.kind == "side":
            return int(min(max(v // 32, 0), MAX_BIN))
        if self.kind == "count":
            return int(min(max(round(v), 0), MAX_BIN))
        if self.kind == "thresholds":
            return sum(v >= t for t in self.thresholds)
        t = (min(max(v, self.lo), self.hi) - self.lo) / (self.hi - self.lo)
        return int(t * (self.bins - 1))

    @property
    def max_bin(self) -> int:
        if self.kind == "thresholds":
            return len(self.thresholds)
        return MAX_BIN if self.kind in ("side", "count") else self.bins - 1

    def from_bin(self, b: int) -> float:
        """A value inside bin ``b`` (its centre where the bin has a width)."""
        b = min(max(int(b), 0), self.max_bin)
        if self.kind == "side":
            return float(b * 32 + 16)
        if self.kind == "count":
            return float(b)
        if self.kind == "thresholds":
            edges = (self.thresholds[0] - 1.0, *self.thresholds, self.thresholds[-1] + 1.0)
            return (edges[b] + edges[b + 1]) / 2
        return min(self.lo + (b + 0.5) * (self.hi - self.lo) / (self.bins - 1), self.hi)


_RANGES = {
    "colorfulness": (0, 150), "brightness": (0, 255), "contrast": (0, 127), "saturation": (0, 255),
    "entropy": (0, 10), "walkability": (0, 1), "objectness": (0, 1),
    "geometric_complexity": (0, 0.75), "occlusion_score": (0, 0.25),
}
_ORDER = [
    "original_width", "original_height", "caption_n_chars", "caption_n_words", "caption_n_sentences",
    "n_humans", "n_sam_instances", "n_coco_instances", "coco_instance_diversity", "colorfulness",
    "brightness", "contrast", "saturation", "entropy", "walkability", "objectness",
    "semantic_diversity", "geometric_complexity", "occlusion_score", "watermark_score", "aesthetic_score",
]
_THRESHOLDS = {"watermark_score": (0.5,), "aesthetic_score": (4.5, 5.5)}


def _field(name: str, i: int) -> Field:
    if name in ("original_width", "original_height"):
        return Field(name, i, "side")
    if name in _THRESHOLDS:
        return Field(name, i, "thresholds", thresholds=_THRESHOLDS[name])
    if name in _RANGES:
        lo, hi = _RANGES[name]
        return Field(name, i, "range", lo=lo, hi=hi)
    return Field(name, i, "count")


FIELDS: dict[str, Field] = {name: _field(name, i) for i, name in enumerate(_ORDER)}
BY_ID: dict[int, Field] = {f.id: f for f in FIELDS.values()}
