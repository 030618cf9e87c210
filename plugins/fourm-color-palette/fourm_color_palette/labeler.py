"""The palette labeler: k-means on an image's pixels, the largest clusters first."""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from scipy.cluster.vq import kmeans2

from fourm_4m21_common.images import resized, rgb_array

MAX_COLORS = 7


class PaletteLabeler:
    """``max_colors`` k-means clusters of the pixels of a ``sample_size``² thumbnail; clusters
    holding less than ``min_share`` of the pixels are dropped, so plain images get fewer colours."""

    def __init__(self, max_colors: int = MAX_COLORS, min_share: float = 0.03, sample_size: int = 64,
                 seed: int = 0):
        if not 1 <= max_colors <= MAX_COLORS:
            raise ValueError(f"max_colors must lie in 1..{MAX_COLORS}")
        self.max_colors, self.min_share, self.sample_size, self.seed = max_colors, min_share, sample_size, seed

    def palette(self, image: np.ndarray) -> list[list[int]]:
        pixels = resized(image, self.sample_size).reshape(-1, 3).astype(np.float64)
        k = min(self.max_colors, len(np.unique(pixels, axis=0)))
        with warnings.catch_warnings():  # an empty cluster is dropped below
            warnings.simplefilter("ignore")
            centroids, labels = kmeans2(pixels, k, minit="++", rng=self.seed)
        counts = np.bincount(labels, minlength=k)
        order = [i for i in np.argsort(-counts, kind="stable") if counts[i] > 0]
        keep = [i for i in order if counts[i] >= self.min_share * len(labels)] or order[:1]
        return np.rint(centroids[keep]).clip(0, 255).astype(int).tolist()

    def __call__(self, images: Sequence[Any]) -> list[list[list[int]]]:
        return [self.palette(rgb_array(img, i)) for i, img in enumerate(images)]


def make_labeler(model: str | None = None, device: str = "cpu") -> PaletteLabeler:
    """``LabelerSpec.factory``: k-means needs no model (``model`` is ignored)."""
    return PaletteLabeler()
