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

from .spec import Codec, ModalityKind


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
            return image_array(img, mode)

    return Codec(extension=ext, encode=encode, decode=decode)


_WIDE = ("I", "I;16", "I;16B", "I;16L", "I;16N", "F")


def image_array(img: Image.Image, mode: str) -> np.ndarray:
    """``img`` as an array in ``mode``, refusing conversions that would change the data.

    Single-channel ids (``L``) keep a palette image's indices (not its colours' luminance),
    accept a colour image only if it is grey (R = G = B), and take a 16-bit image only if
    every value fits in 8 bits; a 16-bit image is never clipped into an 8-bit mode.
    """
    if img.mode == mode:
        return np.array(img)
    if img.mode in _WIDE:
        arr = np.array(img)
        if mode not in ("L", "P") or arr.size and (arr.min() < 0 or arr.max() > 255 or
                                                   not np.array_equal(arr, np.rint(arr))):
            hi = arr.max() if arr.size else 0
            raise ValueError(f"a {img.mode} (16-bit or float) image with values up to {hi} where a "
                             f"{mode} image is expected: converting would clip or round it")
        return arr.astype(np.uint8)
    if mode == "L":
        if img.mode == "P":
            return np.array(img)  # the indices are the ids
        if img.mode in ("RGB", "RGBA"):
            arr = np.array(img)
            if not (np.array_equal(arr[..., 0], arr[..., 1]) and np.array_equal(arr[..., 1], arr[..., 2])):
                raise ValueError(f"a colour ({img.mode}) image where a single-channel (L) image is "
                                 "expected: its colours are not ids (save the ids as a grey or palette PNG)")
            return np.ascontiguousarray(arr[..., 0])
    return np.array(img.convert(mode))


def npy_codec(dtype: str | None = None, ndim: int | None = None, channels: int | None = None,
              finite: bool = True) -> Codec:
    """NumPy arrays stored as ``.npy``; optional checks of dtype kind, rank and last-axis size.

    Values are cast to ``dtype`` only when nothing is lost (no strings, complex numbers or
    fractional values into integers); float arrays must be finite unless ``finite=False``.
    """
    target = np.dtype(dtype) if dtype is not None else None

    def check(arr: np.ndarray) -> np.ndarray:
        if arr.dtype.kind not in "biuf":
            raise ValueError(f"expected a numeric array, got dtype {arr.dtype}")
        if ndim is not None and arr.ndim != ndim:
            raise ValueError(f"expected a {ndim}-d array, got shape {arr.shape}")
        if ndim is not None and arr.size == 0:
            raise ValueError(f"empty array of shape {arr.shape}")
        if channels is not None and arr.shape[-1] != channels:
            raise ValueError(f"expected {channels} channels on the last axis, got shape {arr.shape}")
        if finite and arr.dtype.kind == "f" and not np.isfinite(arr).all():
            raise ValueError(f"array holds {int((~np.isfinite(arr)).sum())} NaN or inf value(s)")
        if target is None or arr.dtype == target:
            return arr
        if target.kind in "iu" and arr.dtype.kind == "f" and not np.array_equal(arr, np.rint(arr)):
            raise ValueError(f"fractional values cannot be stored as {target}")
        return arr.astype(target, copy=False)

    def encode(value: Any) -> bytes:
        buf = io.BytesIO()
        np.save(buf, check(np.asarray(value)), allow_pickle=False)
        return buf.getvalue()

    def decode(data: bytes) -> np.ndarray:
        return check(np.load(io.BytesIO(data), allow_pickle=False))

    return Codec(extension="npy", encode=encode, decode=decode)


def _no_constant(name: str) -> Any:
    raise ValueError(f"JSON holds {name}, which is not a number fourm accepts")


def strict_json_loads(data: bytes) -> Any:
    """UTF-8 JSON without ``NaN``/``Infinity`` (Python's json accepts them; no other tool does)."""
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return json.loads(text, parse_constant=_no_constant)


def json_codec(check: Callable[[Any], Any] | None = None) -> Codec:
    """JSON-serialisable values (lists of boxes, metadata dicts…). ``check`` validates (and may
    normalise) every value written and read, raising on a malformed one."""
    checked: Callable[[Any], Any] = check or (lambda v: v)
    return Codec(extension="json",
                 encode=lambda v: json.dumps(checked(v), sort_keys=True).encode("utf-8"),
                 decode=lambda b: checked(strict_json_loads(b)))


def text_codec() -> Codec:
    """UTF-8 text (captions)."""

    def decode(data: bytes) -> str:
        try:
            return data.decode("utf-8").strip()
        except UnicodeDecodeError as exc:
            raise ValueError(f"not UTF-8 text ({exc.reason} at byte {exc.start})") from None

    return Codec(extension="txt", encode=lambda v: str(v).encode("utf-8"), decode=decode)


TOKEN_CODEC = npy_codec(dtype=None)
"""Token ids of any modality, stored as ``tok_<modality>.npy`` (int16 for vocabularies < 32768)."""


# -- value checks the shard reader applies after a codec (generic: read from the spec) -------
def check_value(spec: Any, value: Any) -> Any:
    """Refuse class ids outside ``extras["num_classes"]`` (``extras["ignore_index"]`` allowed)."""
    classes = (spec.extras or {}).get("num_classes")
    if classes and isinstance(value, np.ndarray) and value.dtype.kind in "iu" and value.size:
        ignore = (spec.extras or {}).get("ignore_index")
        ids = value[value != ignore] if ignore is not None else value
        if ids.size and (int(ids.min()) < 0 or int(ids.max()) >= int(classes)):
            raise ValueError(f"class ids in [{int(ids.min())}, {int(ids.max())}] outside the "
                             f"{classes} classes of {spec.name!r}")
    return value


def check_sizes_agree(registry: Any, sample: dict[str, Any]) -> None:
    """Pixel-aligned values (dense and pixel modalities declaring the same image size) must
    share one height × width: a depth map of another size than its photo is refused."""
    groups: dict[Any, dict[str, tuple[int, int]]] = {}
    for name, value in sample.items():
        spec = registry.modalities.get(name) if not name.startswith("__") else None
        if spec is None or spec.kind not in (ModalityKind.DENSE, ModalityKind.PIXELS) \
                or not isinstance(value, np.ndarray):
            continue
        if value.ndim >= 2:
            groups.setdefault(spec.tokenizer.image_size, {})[name] = tuple(value.shape[:2])
    for sizes in groups.values():
        if len(set(sizes.values())) > 1:
            detail = ", ".join(f"{n} {h}×{w}" for n, (h, w) in sorted(sizes.items()))
            raise ValueError(f"pixel-aligned modalities differ in size ({detail})")
