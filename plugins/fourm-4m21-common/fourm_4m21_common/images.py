"""Checks and conversions of the RGB images labelers receive (H×W×3 uint8)."""
from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from fourm_registry.errors import FourmError


def rgb_array(image: Any, index: int = 0) -> np.ndarray:
    """An H×W×3 uint8 array from an array or PIL image; grey images are repeated to 3 channels."""
    if isinstance(image, Image.Image):
        image = np.asarray(image.convert("RGB"))
    arr = np.asarray(image)
    if arr.ndim == 2:
        arr = np.repeat(arr[..., None], 3, axis=-1)
    if arr.ndim != 3 or arr.shape[-1] not in (3, 4) or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise FourmError(f"image #{index}: expected H×W×3 pixels, got shape {arr.shape}")
    if arr.dtype != np.uint8:
        raise FourmError(f"image #{index}: expected uint8 pixels, got {arr.dtype}")
    return np.ascontiguousarray(arr[..., :3])


def resized(image: np.ndarray, size: int, resample: int = Image.BILINEAR) -> np.ndarray:
    """A square ``size``×``size`` copy (labels are made at the model's resolution)."""
    return np.asarray(Image.fromarray(image).resize((size, size), resample))
