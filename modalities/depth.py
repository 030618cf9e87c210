"""Depth: H×W float32 (metres for synthetic data, relative for pseudo-labels); 8192 codes."""
from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from fourm_registry import MaskingSpec, ModalityKind, ModalitySpec, TokenizerSpec, hookimpl
from fourm_registry.codecs import npy_codec

from . import _vq_adapters
from ._draw import colormap
from .labelers import labeler_spec


def draw(value: Any) -> Image.Image:
    """Near is bright: colour-map inverse depth, as depth pictures usually are shown."""
    d = np.asarray(value, dtype=np.float32)
    return colormap(-d)


SPEC = ModalitySpec(
    name="depth",
    domains=("tok_depth@{image_size}",),  # its name in ml-4m checkpoints
    kind=ModalityKind.DENSE,
    description="Depth map",
    value="H×W float32",
    tokenizer=TokenizerSpec(vocab_size=8192, image_size=224, patch_size=16,
                            factory=_vq_adapters.DEPTH),
    masking=MaskingSpec(rule="uniform"),
    codec=npy_codec(dtype="float32", ndim=2),
    labeler=labeler_spec("depth"),
    draw=draw,
)


@hookimpl
def register_modalities(register):
    register(SPEC)
