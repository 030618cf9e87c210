"""Pictures for sequence values: colour swatches, labelled cards, boxes drawn on a canvas."""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image, ImageDraw


def swatches(colors: Sequence[Sequence[int]], size: int = 224) -> Image.Image:
    """Vertical bands, one per RGB colour (white when there is none)."""
    img = Image.new("RGB", (size, size), "white")
    if len(colors):
        draw = ImageDraw.Draw(img)
        width = size / len(colors)
        for i, c in enumerate(colors):
            rgb = tuple(int(min(max(v, 0), 255)) for v in c[:3])
            draw.rectangle([round(i * width), 0, round((i + 1) * width), size], fill=rgb)
    return img


def card(lines: Sequence[str], size: int = 224) -> Image.Image:
    """A white card with one short line of text per entry."""
    img = Image.new("RGB", (size, size), "white")
    draw = ImageDraw.Draw(img)
    for i, line in enumerate(list(lines)[: size // 12]):
        draw.text((4, 4 + 12 * i), line[: size // 6], fill="black")
    return img


def boxes(items: Sequence[tuple[Sequence[float], str]], size: int = 224,
          canvas: np.ndarray | None = None) -> Image.Image:
    """Outline normalised ``[x0, y0, x1, y1]`` boxes (0…1) with a label on a canvas."""
    img = Image.fromarray(canvas).convert("RGB") if canvas is not None else Image.new("RGB", (size, size), "white")
    w, h = img.size
    draw = ImageDraw.Draw(img)
    for i, (box, label) in enumerate(items):
        hue = np.array([(37 * i) % 255, (91 * i + 80) % 255, (53 * i + 160) % 255])
        x0, y0, x1, y1 = (float(v) for v in box)
        draw.rectangle([x0 * w, y0 * h, max(x1 * w, x0 * w), max(y1 * h, y0 * h)],
                       outline=tuple(int(v) for v in hue), width=2)
        if label:
            draw.text((x0 * w + 2, y0 * h + 1), label, fill=tuple(int(v) for v in hue))
    return img
