"""Boxes as text (4M): ``v0=xmin v1=ymin v2=xmax v3=ymax <class>`` per instance.

Coordinates are normalised to the image and quantised as ``round(x * 999)``; instances are
ordered by the distance of their top-left corner to the origin; detections with a score
below 0.6 are dropped. Parsing is tolerant: it returns every complete box of a malformed or
truncated (generated) text and never raises.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any

from fourm_registry.tokens import COORD_BINS, NUM_COORD_AXES


class Detections(list):
    """A list of ``{"box": [x0, y0, x1, y1] pixels, "label": str, "score": float}`` that also
    knows the ``image_size`` (W, H) its pixel boxes refer to, so they can be normalised."""

    def __init__(self, instances=(), image_size: tuple[int, int] | None = None):
        super().__init__(instances)
        self.image_size = tuple(image_size) if image_size is not None else None


SCORE_THRESHOLD = 0.6
_COORD = re.compile(r"^v([0-9])=([0-9]+)$")

# The 80 COCO detection classes, in the order the published 4M vocabulary gives them ids.
COCO_CLASSES = [
    "airplane", "apple", "backpack", "banana", "baseball bat", "baseball glove", "bear", "bed",
    "bench", "bicycle", "bird", "boat", "book", "bottle", "bowl", "broccoli", "bus", "cake", "car",
    "carrot", "cat", "cell phone", "chair", "clock", "couch", "cow", "cup", "dining table", "dog",
    "donut", "elephant", "fire hydrant", "fork", "frisbee", "giraffe", "hair drier", "handbag",
    "horse", "hot dog", "keyboard", "kite", "knife", "laptop", "microwave", "motorcycle", "mouse",
    "orange", "oven", "parking meter", "person", "pizza", "potted plant", "refrigerator", "remote",
    "sandwich", "scissors", "sheep", "sink", "skateboard", "skis", "snowboard", "spoon",
    "sports ball", "stop sign", "suitcase", "surfboard", "teddy bear", "tennis racket", "tie",
    "toaster", "toilet", "toothbrush", "traffic light", "train", "truck", "tv", "umbrella", "vase",
    "wine glass", "zebra",
]


def quantize(x: float) -> int:
    """A normalised coordinate → its bin, ``round(x * 999)`` clamped to 0…999."""
    return min(max(round(float(x) * (COORD_BINS - 1)), 0), COORD_BINS - 1)


def _label(inst: Mapping[str, Any]) -> str:
    return " ".join(str(inst["label"]).split())


def boxes_to_text(instances: Iterable[Mapping[str, Any]], image_size: tuple[float, float],
                  threshold: float = SCORE_THRESHOLD) -> str:
    """Pixel boxes of an image of ``image_size`` (W, H) → 4M box text."""
    w, h = (float(s) for s in image_size)
    if w <= 0 or h <= 0:
        raise ValueError(f"image_size must be positive, got {image_size}")
    rows = []
    for inst in instances:
        if float(inst.get("score", 1.0)) < threshold:
            continue
        x0, y0, x1, y1 = (float(v) for v in inst["box"])
        norm = (min(x0, x1) / w, min(y0, y1) / h, max(x0, x1) / w, max(y0, y1) / h)
        label = _label(inst)
        if not label:
            raise ValueError(f"instance {dict(inst)!r} has an empty label")
        rows.append((norm, label))
    rows.sort(key=lambda r: r[0][0] ** 2 + r[0][1] ** 2)  # stable: ties keep their order
    return " ".join(
        " ".join(f"v{a}={quantize(c)}" for a, c in enumerate(norm)) + f" {label}" for norm, label in rows
    )


def text_to_boxes(text: str) -> list[dict[str, Any]]:
    """4M box text → ``[{"box": [x0, y0, x1, y1] normalised to 0…1, "label", "score": 1.0}]``.

    A box counts when ``v0``…``v3`` come in order followed by at least one label word;
    anything else (stray words, missing or out-of-order coordinates, a cut-off tail) is
    skipped. Coordinates are put in order (x0 ≤ x1, y0 ≤ y1).
    """
    out: list[dict[str, Any]] = []
    coords: list[int] = []
    words: list[str] = []
    broken = False  # the current box went wrong: ignore words until the next v0=

    def flush() -> None:
        if not broken and len(coords) == NUM_COORD_AXES and words:
            x0, y0, x1, y1 = (c / (COORD_BINS - 1) for c in coords)
            out.append({"box": [min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)],
                        "label": " ".join(words), "score": 1.0})

    for word in str(text).split():
        m = _COORD.match(word)
        if m is None:
            if not broken and len(coords) == NUM_COORD_AXES:
                words.append(word)
            continue
        axis, value = int(m.group(1)), int(m.group(2))
        if words or axis == 0:  # the previous box ended (complete or not)
            flush()
            coords, words, broken = [], [], False
        if broken:
            continue
        if axis == len(coords) and value < COORD_BINS:
            coords.append(value)
        else:  # out of order or out of range: skip words up to the next v0=
            broken = True
    flush()
    return out
