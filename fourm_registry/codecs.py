"""Generic shard codecs that modality plugins pick from (PNG/JPEG images, .npy arrays, JSON, text).

Decoders validate what they read so a corrupt or mis-shaped member fails loudly with
a ``ValueError`` that the data pipeline can count and skip.
"""
from __future__ import annotations

import io
import json
from collections.abc import Callable
from typing import Any

import numpy as np
from PIL import Image

from .spec import Codec


def image_codec(fmt: str = "png", mode: str = "RGB", quality: int = 95) -> Codec:
    """H×W×C (or H×W for single-channel modes) uint8/uint16 arrays stored as PNG or JPEG."""
    ext = {"png": "png", "jpeg": "jpg", "jpg": "jpg"}[fmt.lower()]

    def encode(value: Any) -> bytes:
        arr = np.asarray(value)
        buf = io.BytesIO()
        img = Image.fromarray(arr)
        if ext == "jpg":
            img.save(buf, format="JPEG", quality=quality)
        else:
            img.save(buf, format="PNG")
        return buf.getvalue()

    def decode(data: bytes) -> np.ndarray:
        with Image.open(io.BytesIO(data)) as img:
            img.load()
            if img.mode != mode:
                img = img.convert(mode)
            return np.array(img)

    return Codec(extension=ext, encode=encode, decode=decode)


def npy_codec(dtype: str | None = None, ndim: int | None = None, channels: int | None = None) -> Codec:
    """NumPy arrays stored as ``.npy``; optional checks of dtype kind, rank and last-axis size."""

    def check(arr: np.ndarray) -> np.ndarray:
        if ndim is not None and arr.ndim != ndim:
            raise ValueError(f"expected a {ndim}-d array, got shape {arr.shape}")
        if channels is not None and arr.shape[-1] != channels:
            raise ValueError(f"expected {channels} channels on the last axis, got shape {arr.shape}")
        return arr.astype(dtype, copy=False) if dtype is not None else arr

    def encode(value: Any) -> bytes:
        buf = io.BytesIO()
        np.save(buf, check(np.asarray(value)), allow_pickle=False)
        return buf.getvalue()

    def decode(data: bytes) -> np.ndarray:
        return check(np.load(io.BytesIO(data), allow_pickle=False))

    return Codec(extension="npy", encode=encode, decode=decode)


def json_codec(check: Callable[[Any], Any] | None = None) -> Codec:
    """JSON-serialisable values (lists of boxes, metadata dicts…). ``check`` validates (and may
    normalise) every value written and read, raising on a malformed one."""
    checked: Callable[[Any], Any] = check or (lambda v: v)
    return Codec(extension="json",
                 encode=lambda v: json.dumps(checked(v), sort_keys=True).encode("utf-8"),
                 decode=lambda b: checked(json.loads(b.decode("utf-8"))))


def text_codec() -> Codec:
    """UTF-8 text (captions)."""

    def decode(data: bytes) -> str:
        return data.decode("utf-8").strip()

    return Codec(extension="txt", encode=lambda v: str(v).encode("utf-8"), decode=decode)


TOKEN_CODEC = npy_codec(dtype=None)
"""Token ids of any modality, stored as ``tok_<modality>.npy`` (int16 for vocabularies < 32768)."""
