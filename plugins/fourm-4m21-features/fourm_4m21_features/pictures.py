"""Pictures of feature values: PCA colours for maps, a heat strip for one embedding."""
from __future__ import annotations

import math
from typing import Any

import numpy as np
from PIL import Image


def pca_picture(value: Any, size: int = 224) -> Image.Image:
    """h×w×C features → RGB of their first three principal components, upscaled."""
    f = np.asarray(value, dtype=np.float32)
    h, w, c = f.shape
    x = (f.reshape(-1, c) - f.reshape(-1, c).mean(0)).astype(np.float64)
    vals, vecs = np.linalg.eigh(x @ x.T)  # Gram matrix: cheap for h·w ≪ C
    proj = vecs[:, ::-1][:, :3] * np.sqrt(np.clip(vals[::-1][:3], 0, None))
    proj = np.pad(proj, ((0, 0), (0, 3 - proj.shape[1]))) if proj.shape[1] < 3 else proj
    lo, hi = proj.min(0), proj.max(0)
    rgb = ((proj - lo) / np.maximum(hi - lo, 1e-8)).reshape(h, w, 3)
    return Image.fromarray((rgb * 255).astype(np.uint8)).resize((size, size), Image.NEAREST)


def embedding_strip(value: Any, size: int = 224) -> Image.Image:
    """One vector → a square of cells, blue (negative) to red (positive), scaled by its max."""
    v = np.asarray(value, dtype=np.float32).ravel()
    side = math.ceil(math.sqrt(max(v.size, 1)))
    t = np.zeros(side * side, np.float32)
    t[: v.size] = v / max(float(np.abs(v).max()), 1e-8)
    t = t.reshape(side, side)
    rgb = np.stack([np.clip(t, 0, 1), np.zeros_like(t), np.clip(-t, 0, 1)], -1)
    rgb = 0.15 + 0.85 * rgb
    return Image.fromarray((rgb * 255).astype(np.uint8)).resize((size, size), Image.NEAREST)
