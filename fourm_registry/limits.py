"""Size limits checked *before* a shard member is read or decoded, so a hostile or corrupt
file cannot make fourm allocate, seek or decompress without bound.

The defaults fit real data (4M-scale photos, 224-px token grids, captions) with a wide
margin; a config overrides them under ``data.limits`` (``fourm train``) or passes a
:class:`ReadLimits` to :func:`fourm_registry.shards.read_samples`.
"""
from __future__ import annotations

import io
import warnings
from typing import Any

import numpy as np
from pydantic import Field

from .config import StrictModel

IMAGE_EXTENSIONS = {"png", "jpg", "jpeg", "webp", "bmp", "gif", "tif", "tiff", "ppm"}


class ReadLimits(StrictModel):
    """Upper bounds for one tar member, one decoded image and one stored array."""

    max_member_bytes: int = Field(default=256 * 2**20, gt=0)  # one member's declared size
    max_image_pixels: int = Field(default=64_000_000, gt=0)  # width × height of one image
    max_array_dims: int = Field(default=6, gt=0)  # rank of one stored .npy array
    max_array_elements: int = Field(default=2**26, gt=0)  # elements of one stored .npy array


DEFAULT_LIMITS = ReadLimits()


class LimitError(ValueError):
    """A member over one of the :class:`ReadLimits` (refused before it is decoded)."""


def npy_header(data: bytes) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of a ``.npy`` payload from its header alone (nothing is allocated)."""
    fp = io.BytesIO(data)
    try:
        version = np.lib.format.read_magic(fp)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(fp)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(fp)
    except Exception as exc:
        raise ValueError(f"not a valid .npy array ({exc})") from None
    return tuple(int(s) for s in shape), dtype


def check_npy(data: bytes, limits: ReadLimits) -> None:
    """Refuse object (pickled) arrays, too many dims or elements, and truncated payloads."""
    shape, dtype = npy_header(data)
    if dtype.hasobject:
        raise ValueError("a pickled (object) .npy array is refused: fourm never unpickles data")
    if len(shape) > limits.max_array_dims:
        raise LimitError(f"array has {len(shape)} dims, over the limit {limits.max_array_dims}")
    count = int(np.prod(shape, dtype=np.float64)) if shape else 1
    if count > limits.max_array_elements:
        raise LimitError(f"array shape {shape} has {count} elements, over the limit "
                         f"{limits.max_array_elements} (data.limits.max_array_elements)")
    if count * dtype.itemsize > len(data):
        raise ValueError(f"truncated .npy: shape {shape} {dtype} needs {count * dtype.itemsize} bytes, "
                         f"the member holds {len(data)}")


def check_image(data: bytes, limits: ReadLimits) -> None:
    """Read only the image header and refuse empty or over-large pictures (decompression bombs)."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as img:
                width, height = img.size
    except Image.DecompressionBombError as exc:
        raise LimitError(f"image too large: {exc}") from None
    except Exception as exc:
        raise ValueError(f"not a readable image ({type(exc).__name__}: {exc})") from None
    if width <= 0 or height <= 0:
        raise ValueError(f"image has an empty size {width}×{height}")
    if width * height > limits.max_image_pixels:
        raise LimitError(f"image {width}×{height} has {width * height} pixels, over the limit "
                         f"{limits.max_image_pixels} (data.limits.max_image_pixels)")


def check_member(suffix: str, data: bytes, limits: ReadLimits) -> None:
    """Header-level checks of one member, chosen by its last extension."""
    ext = suffix.rsplit(".", 1)[-1].lower()
    if ext == "npy":
        check_npy(data, limits)
    elif ext in IMAGE_EXTENSIONS:
        check_image(data, limits)


def limits_from(value: Any) -> ReadLimits:
    if value is None:
        return DEFAULT_LIMITS
    return value if isinstance(value, ReadLimits) else ReadLimits.model_validate(value)
