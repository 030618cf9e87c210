"""How the built-in dense modalities feed the generic VQ-VAE tokenizer (pre/post-processing, loss).

Each adapter turns a raw value (as the modality's codec decodes it) into a C×H×W float32
network input, raising ``ValueError`` for values it cannot take, and turns a decoder output
back into a raw value.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from fourm_registry.tokenizers import DenseAdapter, DenseTokenizerFactory


def _array(value: Any, ndim: int, channels: int | None = None) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != ndim:
        raise ValueError(f"expected a {ndim}-d array, got shape {arr.shape}")
    if channels is not None and arr.shape[-1] != channels:
        raise ValueError(f"expected {channels} channels, got {arr.shape[-1]} (shape {arr.shape})")
    return arr


# -- rgb: uint8 → [-1, 1] ---------------------------------------------------------------------
def rgb_in(value: Any) -> np.ndarray:
    arr = _array(value, 3, 3)
    if arr.dtype != np.uint8:
        raise ValueError(f"expected uint8 pixels, got {arr.dtype}")
    return (arr.astype(np.float32) / 127.5 - 1.0).transpose(2, 0, 1)


def rgb_out(y: np.ndarray) -> np.ndarray:
    return ((y.transpose(1, 2, 0) + 1.0) * 127.5).round().clip(0, 255).astype(np.uint8)


# -- depth: per-image truncated standardisation (4M); decodes to relative depth ---------------
def depth_in(value: Any, trunc: float = 0.1) -> np.ndarray:
    d = _array(value, 2).astype(np.float32)
    if not np.isfinite(d).all():
        raise ValueError("depth contains NaN or infinite values")
    flat = np.sort(d.reshape(-1))
    core = flat[int(trunc * flat.size): max(int((1 - trunc) * flat.size), int(trunc * flat.size) + 1)]
    return ((d - core.mean()) / np.sqrt(core.var() + 1e-6))[None]


def depth_out(y: np.ndarray) -> np.ndarray:
    return y[0].astype(np.float32)


# -- normals: unit vectors, 3 channels ---------------------------------------------------------
def normal_in(value: Any) -> np.ndarray:
    n = _array(value, 3, 3).astype(np.float32)
    if not np.isfinite(n).all():
        raise ValueError("normals contain NaN or infinite values")
    return n.clip(-1.0, 1.0).transpose(2, 0, 1)


def normal_out(y: np.ndarray) -> np.ndarray:
    n = y.transpose(1, 2, 0).astype(np.float32)
    return n / np.maximum(np.linalg.norm(n, axis=-1, keepdims=True), 1e-6)


# -- semseg: class ids → one-hot; cross-entropy over classes -------------------------------------
def semseg_adapter(spec: Any) -> DenseAdapter:
    num_classes = int(spec.extras["num_classes"])

    def to_input(value: Any) -> np.ndarray:
        ids = _array(value, 2)
        if not np.issubdtype(ids.dtype, np.integer):
            raise ValueError(f"expected integer class ids, got {ids.dtype}")
        if ids.size and (ids.min() < 0 or ids.max() >= num_classes):
            raise ValueError(f"class ids must lie in 0..{num_classes - 1}, got {ids.min()}..{ids.max()}")
        return np.eye(num_classes, dtype=np.float32)[ids].transpose(2, 0, 1)

    def from_output(logits: np.ndarray) -> np.ndarray:
        return logits.argmax(axis=0).astype(np.uint8 if num_classes <= 256 else np.int32)

    return DenseAdapter(in_channels=num_classes, to_input=to_input, from_output=from_output,
                        loss="cross_entropy", resize="nearest")


# -- feature maps (CLIP): h×w×C at token resolution, standardised per channel --------------------
def feature_map_adapter(spec: Any) -> DenseAdapter:
    channels = int(spec.extras.get("channels", 768))

    def to_input(value: Any) -> np.ndarray:
        return _array(value, 3, channels).astype(np.float32).transpose(2, 0, 1)

    return DenseAdapter(
        in_channels=channels, to_input=to_input,
        from_output=lambda y: y.transpose(1, 2, 0).astype(np.float32),
        loss="mse", pixels_per_token=1,
        defaults={"standardize": True, "channels": [256], "layers_per_block": 2},
    )


RGB = DenseTokenizerFactory(DenseAdapter(in_channels=3, to_input=rgb_in, from_output=rgb_out,
                                         loss="mse", diffusion=True))
DEPTH = DenseTokenizerFactory(DenseAdapter(in_channels=1, to_input=depth_in, from_output=depth_out,
                                           loss="smooth_l1", diffusion=True))
NORMAL = DenseTokenizerFactory(DenseAdapter(in_channels=3, to_input=normal_in, from_output=normal_out,
                                            loss="smooth_l1", diffusion=True))
SEMSEG = DenseTokenizerFactory(semseg_adapter)
FEATURE_MAP = DenseTokenizerFactory(feature_map_adapter)
