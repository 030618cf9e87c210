"""Decoded shard values → the arrays the masker takes, checked so bad samples are skipped, not zero-filled.

Tokenised kinds read ``tok_<modality>`` (grid: h×w ids, sequence: 1-D ids); PIXELS and
EMBEDDING read their raw value. Plugin knobs in ``spec.extras``: ``channels``, ``mean``,
``std`` (PIXELS, applied after scaling uint8 to [0, 1]), ``embedding_dim`` (EMBEDDING).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..spec import ModalityKind, ModalitySpec


class SampleError(ValueError):
    """A sample that cannot be used; ``reason`` is the short form counted in ReadStats."""

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason, self.detail = reason, detail


def source_field(spec: ModalitySpec) -> str:
    """The shard field a modality is read from: its token array, or its raw value for input-only kinds
    (another modality's member if the plugin names it in ``extras["source_field"]``)."""
    return str(spec.extras.get("source_field", spec.name)) if spec.input_only else spec.token_key


def _ids(spec: ModalitySpec, value: Any, field: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.dtype.kind not in "iu":
        raise SampleError(f"bad dtype {field}", f"expected integer token ids, got {arr.dtype}")
    if arr.size and (arr.min() < 0 or arr.max() >= spec.tokenizer.vocab_size):
        raise SampleError(f"bad ids {field}", f"ids outside [0, {spec.tokenizer.vocab_size})")
    return arr.astype(np.int64, copy=False)


def _grid_ids(spec: ModalitySpec, value: Any) -> np.ndarray:
    arr = _ids(spec, value, spec.token_key)
    if arr.size != spec.num_tokens or arr.ndim not in (1, 2):
        raise SampleError(f"bad shape {spec.token_key}",
                          f"expected a {spec.tokenizer.grid} grid of ids, got shape {arr.shape}")
    return arr.reshape(-1)


def _sequence_ids(spec: ModalitySpec, value: Any) -> np.ndarray:
    arr = _ids(spec, value, spec.token_key)
    if arr.ndim != 1:
        raise SampleError(f"bad shape {spec.token_key}", f"expected 1-D ids, got shape {arr.shape}")
    return arr


def _pixels(spec: ModalitySpec, value: Any) -> np.ndarray:
    """H×W×C image → (h·w) × (p·p·C) patches, each flattened row by row, channels last."""
    arr = np.asarray(value)
    channels = int(spec.extras.get("channels", 3))
    if arr.ndim == 2:
        arr = arr[..., None]
    size, patch = spec.tokenizer.image_size, spec.tokenizer.patch_size
    assert size is not None and patch is not None
    if arr.shape != (size, size, channels):
        raise SampleError(f"bad shape {spec.name}", f"expected {(size, size, channels)}, got {arr.shape}")
    img = arr.astype(np.float32) / 255.0 if arr.dtype == np.uint8 else arr.astype(np.float32)
    if "mean" in spec.extras:
        img = (img - np.asarray(spec.extras["mean"], np.float32)) / np.asarray(spec.extras.get("std", 1.0), np.float32)
    side = size // patch
    patches = img.reshape(side, patch, side, patch, channels).transpose(0, 2, 1, 3, 4)
    return np.ascontiguousarray(patches.reshape(side * side, patch * patch * channels))


def _vectors(spec: ModalitySpec, value: Any) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float32)
    arr = arr[None] if arr.ndim == 1 else arr
    dim = int(spec.extras.get("embedding_dim", arr.shape[-1]))
    if arr.ndim != 2 or arr.shape[1] != dim or not 0 < arr.shape[0] <= spec.num_tokens:
        raise SampleError(f"bad shape {spec.name}",
                          f"expected up to {spec.num_tokens} vectors of {dim}, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise SampleError(f"non-finite {spec.name}", "embedding holds NaN or inf")
    return arr


def prepare_sample(sample: Mapping[str, Any], specs: Sequence[ModalitySpec]) -> dict[str, Any]:
    """``{"__key__", <modality>: array}`` from a decoded sample; raises :class:`SampleError`."""
    key = sample.get("__key__", "?")
    out: dict[str, Any] = {"__key__": key}
    for spec in specs:
        field = source_field(spec)
        if field not in sample:
            raise SampleError(f"missing {field}", f"sample {key!r} has no {field!r}")
        value = sample[field]
        try:
            if spec.kind is ModalityKind.SEQUENCE:
                out[spec.name] = _sequence_ids(spec, value)
            elif spec.kind is ModalityKind.PIXELS:
                out[spec.name] = _pixels(spec, value)
            elif spec.kind is ModalityKind.EMBEDDING:
                out[spec.name] = _vectors(spec, value)
            else:
                out[spec.name] = _grid_ids(spec, value)
        except SampleError as exc:
            raise SampleError(exc.reason, f"sample {key!r}: {exc.detail}") from None
    return out
