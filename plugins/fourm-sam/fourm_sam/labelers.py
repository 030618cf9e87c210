"""SAM labelers: instances around random query points, and the edges of masks on a point grid."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from scipy.ndimage import binary_erosion

from fourm_4m21_common.images import rgb_array

from .instance import MASK_TOKENS, crop_mask, mask_tokenizer, tokenize_instances
from .runner import SamRunner, grid_points, random_points

MASK_TOKENIZER_DIR = "mask_tokenizer"  # optional sub-folder of the SAM model folder


class SamInstanceLabeler:
    """For ``n_points`` random query points, the distinct SAM masks (of its three guesses) that
    contain the point with predicted IoU ≥ ``min_iou``, at most ``per_point`` each, within a
    text budget of ``max_length`` tokens. Masks are tokenised when a mask tokenizer is given
    (or found in ``<model>/mask_tokenizer``); otherwise instances carry only their mask."""

    def __init__(self, model: str, device: str = "cpu", *, n_points: int = 7, per_point: int = 2,
                 min_iou: float = 0.5, max_length: int = 290, mask_tokenizer_path: str | None = None,
                 seed: int = 0):
        self.runner = SamRunner(model, device)
        path = mask_tokenizer_path or (Path(model) / MASK_TOKENIZER_DIR)
        self.tokenizer = mask_tokenizer(path) if Path(path).is_dir() else None
        self.n_points, self.per_point, self.min_iou = n_points, per_point, min_iou
        self.max_length, self.rng = max_length, np.random.default_rng(seed)

    def label(self, image: np.ndarray) -> list[dict]:
        h, w = image.shape[:2]
        points = random_points(w, h, self.n_points, self.rng)
        masks, scores = self.runner.masks(image, points)
        budget, out = self.max_length, []
        for (x, y), m3, s3 in zip(points, masks, scores):
            budget -= 3
            entry: dict[str, Any] = {"point": [float(x) / w, float(y) / h], "instances": []}
            kept: list[np.ndarray] = []
            for k in np.argsort(-s3):
                m = m3[k]
                if s3[k] < self.min_iou or not m[int(y) % h, int(x) % w] or len(kept) >= self.per_point \
                        or any((m & o).sum() > 0.9 * (m | o).sum() for o in kept) or budget < 5 + MASK_TOKENS:
                    continue
                crop = crop_mask(m)
                if crop is not None:
                    kept.append(m)
                    entry["instances"].append({"box": crop[0], "mask": crop[1]})
                    budget -= 5 + MASK_TOKENS
            if budget < 0:
                break
            out.append(entry)
        return out

    def __call__(self, images: Sequence[Any]) -> list[list[dict]]:
        values = [self.label(rgb_array(img, i)) for i, img in enumerate(images)]
        return tokenize_instances(values, self.tokenizer) if self.tokenizer is not None else values


class SamEdgeLabeler:
    """Boundaries of the SAM masks (IoU ≥ ``min_iou``) for a ``points_per_side``² grid of
    points: H×W uint8, 255 on a boundary (4M-21's SAM edges)."""

    def __init__(self, model: str, device: str = "cpu", *, points_per_side: int = 16, min_iou: float = 0.7):
        self.runner = SamRunner(model, device)
        self.points_per_side, self.min_iou = points_per_side, min_iou

    def label(self, image: np.ndarray) -> np.ndarray:
        h, w = image.shape[:2]
        masks, scores = self.runner.masks(image, grid_points(w, h, self.points_per_side))
        edges = np.zeros((h, w), bool)
        for m, s in zip(masks.reshape(-1, h, w), scores.reshape(-1)):
            if s >= self.min_iou and m.any() and not m.all():
                edges |= m & ~binary_erosion(m, border_value=1)
        return np.where(edges, 255, 0).astype(np.uint8)

    def __call__(self, images: Sequence[Any]) -> list[np.ndarray]:
        return [self.label(rgb_array(img, i)) for i, img in enumerate(images)]


def make_instance_labeler(model: str, device: str = "cpu") -> SamInstanceLabeler:
    return SamInstanceLabeler(model, device)


def make_edge_labeler(model: str, device: str = "cpu") -> SamEdgeLabeler:
    return SamEdgeLabeler(model, device)
