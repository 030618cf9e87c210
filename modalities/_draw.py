"""Small drawing helpers shared by the built-in modalities' ``draw`` functions."""
from __future__ import annotations

import numpy as np
from PIL import Image

# Anchor colours of a perceptually ordered map (dark blue → teal → yellow), interpolated.
_ANCHORS = np.array(
    [[68, 1, 84], [59, 82, 139], [33, 145, 140], [94, 201, 98], [253, 231, 37]], dtype=np.float32
)


def colormap(values: np.ndarray, lo: float | None = None, hi: float | None = None) -> Image.Image:
    """Map a 2D float array to an RGB picture (NaNs black)."""
    v = np.asarray(values, dtype=np.float32)
    finite = np.isfinite(v)
    lo = float(np.min(v[finite])) if lo is None and finite.any() else (lo or 0.0)
    hi = float(np.max(v[finite])) if hi is None and finite.any() else (hi or 1.0)
    t = np.clip((v - lo) / max(hi - lo, 1e-8), 0, 1)
    t = np.where(finite, t, 0)
    pos = t * (len(_ANCHORS) - 1)
    i0 = np.floor(pos).astype(int).clip(0, len(_ANCHORS) - 2)
    frac = (pos - i0)[..., None]
    rgb = _ANCHORS[i0] * (1 - frac) + _ANCHORS[i0 + 1] * frac
    rgb[~finite] = 0
    return Image.fromarray(rgb.astype(np.uint8))


def palette(n: int, seed: int = 0) -> np.ndarray:
    """A fixed, reproducible palette of ``n`` distinct-ish colours (index 0 is dark grey)."""
    rng = np.random.default_rng(seed)
    pal = rng.integers(40, 256, size=(n, 3), dtype=np.int64).astype(np.uint8)
    pal[0] = (30, 30, 30)
    return pal


def pca_rgb(features: np.ndarray) -> Image.Image:
    """H×W×C features → RGB via their first three principal components."""
    f = np.asarray(features, dtype=np.float32)
    h, w, c = f.shape
    x = f.reshape(-1, c) - f.reshape(-1, c).mean(0)
    _, _, vt = np.linalg.svd(x, full_matrices=False)
    proj = x @ vt[:3].T
    if proj.shape[1] < 3:
        proj = np.pad(proj, ((0, 0), (0, 3 - proj.shape[1])))
    lo, hi = proj.min(0), proj.max(0)
    img = (proj - lo) / np.maximum(hi - lo, 1e-8)
    return Image.fromarray((img.reshape(h, w, 3) * 255).astype(np.uint8))


def text_card(text: str, width: int = 224, height: int = 224) -> Image.Image:
    """A white card with ``text`` word-wrapped on it, so sequences fit in picture grids."""
    from PIL import ImageDraw

    img = Image.new("RGB", (width, height), "white")
    draw = ImageDraw.Draw(img)
    words, lines, line = text.split(), [], ""
    max_chars = max(8, width // 7)
    for word in words:
        if len(line) + len(word) + 1 > max_chars:
            lines.append(line)
            line = word
        else:
            line = f"{line} {word}".strip()
    lines.append(line)
    for i, ln in enumerate(lines[: height // 12]):
        draw.text((4, 4 + 12 * i), ln, fill="black")
    return img
