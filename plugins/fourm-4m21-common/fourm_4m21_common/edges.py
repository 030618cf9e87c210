"""Edge maps (Canny, SAM boundaries): H×W uint8 (255 on edges), VQ-tokenised like depth (4M-21)."""
from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from fourm_registry.codecs import image_codec
from fourm_registry.tokenizers import DenseAdapter, DenseTokenizerFactory

EDGE_CODEC = image_codec("png", mode="L")


def check_edges(value: Any) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise ValueError(f"an edge map is an H×W array, got shape {arr.shape}")
    if arr.dtype != np.uint8 and arr.dtype != np.bool_:
        raise ValueError(f"an edge map holds uint8 (0/255) or bool values, got {arr.dtype}")
    return arr


def edges_in(value: Any) -> np.ndarray:
    """Edge map → 1×H×W float in [-1, 1] (1 on edges)."""
    return np.where(check_edges(value) > 0, 1.0, -1.0).astype(np.float32)[None]


def edges_out(y: np.ndarray) -> np.ndarray:
    return np.where(y[0] > 0, 255, 0).astype(np.uint8)


def draw_edges(value: Any) -> Image.Image:
    arr = check_edges(value)
    return Image.fromarray(np.where(arr > 0, 255, 0).astype(np.uint8)).convert("RGB")


def example_edges(rng: np.random.Generator, size: int = 224) -> list[np.ndarray]:
    """Edge maps of random rectangles' outlines, for conformance tests."""
    out = []
    for _ in range(2):
        img = np.zeros((size, size), np.uint8)
        for _ in range(4):
            x0, y0 = rng.integers(0, size - 40, 2)
            x1, y1 = x0 + rng.integers(20, 40), y0 + rng.integers(20, 40)
            img[y0, x0:x1] = img[y1, x0:x1] = img[y0:y1, x0] = img[y0:y1, x1] = 255
        out.append(img)
    return out


EDGE_ADAPTER = DenseAdapter(in_channels=1, to_input=edges_in, from_output=edges_out, loss="mse",
                            diffusion=True)
EDGE_TOKENIZER = DenseTokenizerFactory(EDGE_ADAPTER)
