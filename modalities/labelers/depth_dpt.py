"""Depth pseudo-labels from DPT (default: hybrid MiDaS, ``Intel/dpt-hybrid-midas``).

Why this model: 4M labeled depth with a DPT-hybrid (Omnidata weights, which are not a
transformers checkpoint); ``Intel/dpt-hybrid-midas`` is the same architecture in
transformers. Any ``DPTForDepthEstimation`` checkpoint (hub id or local directory) works.

Each image is resized to S×S, S the multiple of 32 nearest to its longer side, clamped to
[32, 768] (transformers' DPT reshapes tokens into a square grid, so inputs are square);
the prediction is resized back to the image's H×W, keeping it pixel-aligned.
MiDaS predicts relative inverse depth (disparity); :func:`disparity_to_depth` turns it into
relative depth (far is larger, median 1). Checkpoints that predict depth directly can be
used with ``inverse=False``.
"""
from __future__ import annotations

import functools
import inspect
from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ._torch import (check_model_ref, group_by_size, load_model, load_processor, model_dtype,
                     normalize, resize)


def disparity_to_depth(disparity: np.ndarray, max_ratio: float = 1000.0) -> np.ndarray:
    """Relative inverse depth → relative depth with median 1; far values capped at ``max_ratio``×near."""
    d = np.asarray(disparity, dtype=np.float64)
    d = np.nan_to_num(d, nan=0.0, posinf=0.0, neginf=0.0)
    if d.min() < 0:  # (untrained or odd outputs) keep the order, make it non-negative
        d = d - d.min()
    floor = max(float(d.max()) / max_ratio, 1e-12)
    depth = 1.0 / np.maximum(d, floor)
    return (depth / float(np.median(depth))).astype(np.float32)


def square_side(height: int, width: int, max_size: int = 768, multiple: int = 32) -> int:
    """The multiple of ``multiple`` nearest to the longer side, within [multiple, max_size]."""
    side = multiple * int(round(max(height, width) / multiple))
    return int(min(max(side, multiple), max_size - max_size % multiple))


def allow_any_square_size(model: torch.nn.Module) -> None:
    """DPT-hybrid's embeddings reject sizes other than the config's unless asked to interpolate
    their position embeddings, which they support; turn that on once."""
    emb = getattr(getattr(model, "dpt", None), "embeddings", None)
    if emb is not None and "interpolate_pos_encoding" in inspect.signature(emb.forward).parameters:
        emb.forward = functools.partial(emb.forward, interpolate_pos_encoding=True)


class DPTDepthLabeler:
    """RGB images → H×W float32 relative depth (or the raw DPT output with ``inverse=False``)."""

    def __init__(self, model: str, device: str = "cpu", *, max_size: int = 768,
                 multiple: int = 32, inverse: bool = True, batch_size: int = 8):
        from transformers import DPTForDepthEstimation

        model = check_model_ref(model, "depth")
        self.device, self.dtype = device, model_dtype(device)
        self.model = load_model(DPTForDepthEstimation, model, device)
        allow_any_square_size(self.model)
        self.processor = load_processor(model, "DPTImageProcessor")
        self.max_size, self.multiple, self.inverse = max_size, multiple, inverse
        self.batch_size = batch_size

    @torch.inference_mode()
    def predict(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        """The model's raw output per image, resized back to the image's H×W (float32)."""
        out: list[np.ndarray | None] = [None] * len(images)
        side_of = lambda img: square_side(*img.shape[:2], self.max_size, self.multiple)  # noqa: E731
        for side, idx in group_by_size(images, side_of).items():
            for start in range(0, len(idx), self.batch_size):
                chunk = idx[start:start + self.batch_size]
                pixels = normalize([resize(images[i], side, side) for i in chunk], self.processor,
                                   self.device, self.dtype)
                pred = self.model(pixel_values=pixels).predicted_depth.float().unsqueeze(1)
                for j, i in enumerate(chunk):
                    h, w = images[i].shape[:2]
                    up = F.interpolate(pred[j:j + 1], size=(h, w), mode="bicubic", align_corners=False)
                    out[i] = up[0, 0].cpu().numpy().astype(np.float32)
        return out  # type: ignore[return-value]

    def __call__(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        preds = self.predict(images)
        return [disparity_to_depth(p) if self.inverse else p for p in preds]
