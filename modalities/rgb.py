"""RGB images: H×W×3 uint8, VQ-tokenised to a 14×14 grid at 224 px (4M: 16384 codes)."""
from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from fourm_registry import MaskingSpec, ModalityKind, ModalitySpec, TokenizerSpec, hookimpl
from fourm_registry.codecs import image_codec

from . import _vq_adapters


def draw(value: Any) -> Image.Image:
    return Image.fromarray(np.asarray(value, dtype=np.uint8))


SPEC = ModalitySpec(
    name="rgb",
    domains=("tok_rgb@{image_size}",),  # its name in ml-4m checkpoints
    kind=ModalityKind.DENSE,
    description="RGB image",
    value="H×W×3 uint8",
    tokenizer=TokenizerSpec(vocab_size=16384, image_size=224, patch_size=16,
                            factory=_vq_adapters.RGB),
    masking=MaskingSpec(rule="uniform"),
    codec=image_codec("jpeg", mode="RGB"),
    draw=draw,
)


@hookimpl
def register_modalities(register):
    register(SPEC)
