"""Semantic segmentation: H×W integer class ids (COCO panoptic: 133 classes); 4096 codes."""
from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from fourm_registry import MaskingSpec, ModalityKind, ModalitySpec, TokenizerSpec, hookimpl
from fourm_registry.codecs import image_codec

from ._draw import palette

NUM_CLASSES = 133
_PALETTE = palette(256, seed=7)


def draw(value: Any) -> Image.Image:
    """Class ids through a fixed palette (the same colour for a class in every picture)."""
    ids = np.asarray(value).astype(np.int64).clip(0, 255)
    return Image.fromarray(_PALETTE[ids])


SPEC = ModalitySpec(
    name="semseg",
    kind=ModalityKind.DENSE,
    description="Semantic segmentation",
    value="H×W uint8 class ids",
    tokenizer=TokenizerSpec(vocab_size=4096, image_size=224, patch_size=16),
    masking=MaskingSpec(rule="uniform"),
    codec=image_codec("png", mode="L"),
    draw=draw,
    extras={"num_classes": NUM_CLASSES},
)


@hookimpl
def register_modalities(register):
    register(SPEC)
