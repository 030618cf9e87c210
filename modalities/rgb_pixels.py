"""RGB pixels as an input: 16×16 patches of the standardised image, linearly projected (4M's ``rgb@224``).

Unlike the tokenised ``rgb`` modality (VQ codes the model can also predict), this one is
input-only: the encoder sees the pixels themselves. It reads the shards' existing ``rgb``
member (``source_field``), so the image is stored once, and standardises it as ml-4m does
(``/255``, then ImageNet mean and std per channel).
"""
from __future__ import annotations

import numpy as np

from fourm_registry import MaskingSpec, ModalityKind, ModalitySpec, TokenizerSpec, hookimpl
from fourm_registry.codecs import image_codec

from .rgb import draw

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def examples(spec: ModalitySpec, rng: np.random.Generator) -> list[np.ndarray]:
    """Smooth test images (a JPEG round trip keeps them close, unlike noise)."""
    side = spec.tokenizer.image_size or 224
    ramp = np.linspace(0, 255, side)
    base = np.stack([ramp[None, :].repeat(side, 0), ramp[:, None].repeat(side, 1),
                     np.full((side, side), rng.integers(0, 256))], axis=-1)
    return [base.astype(np.uint8)]

SPEC = ModalitySpec(
    name="rgb_pixels",
    kind=ModalityKind.PIXELS,
    description="RGB image as pixel patches (input only)",
    value="H×W×3 uint8",
    tokenizer=TokenizerSpec(vocab_size=1, image_size=224, patch_size=16),
    masking=MaskingSpec(rule="uniform"),
    codec=image_codec("jpeg", mode="RGB"),
    draw=draw,
    extras={"channels": 3, "mean": list(IMAGENET_MEAN), "std": list(IMAGENET_STD),
            "source_field": "rgb", "examples": examples},
    domains=("rgb@{image_size}",),  # its name in ml-4m checkpoints
)


@hookimpl
def register_modalities(register):
    register(SPEC)
