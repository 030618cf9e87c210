"""CLIP feature maps: H×W×C float32 from CLIP ViT-B/16's last layer; VQ-tokenised (8192 codes)."""
from __future__ import annotations

from typing import Any

from PIL import Image

from fourm_registry import MaskingSpec, ModalityKind, ModalitySpec, TokenizerSpec, hookimpl
from fourm_registry.codecs import npy_codec

from . import _vq_adapters
from ._draw import pca_rgb
from .labelers import labeler_spec


def draw(value: Any) -> Image.Image:
    return pca_rgb(value)


SPEC = ModalitySpec(
    name="clip",
    domains=("tok_clip@{image_size}",),  # its name in ml-4m checkpoints
    kind=ModalityKind.FEATURE_MAP,
    description="CLIP ViT-B/16 feature map",
    value="h×w×C float32 (14×14×768 at 224 px)",
    tokenizer=TokenizerSpec(vocab_size=8192, image_size=224, patch_size=16,
                            factory=_vq_adapters.FEATURE_MAP),
    masking=MaskingSpec(rule="uniform"),
    codec=npy_codec(dtype="float32", ndim=3),
    labeler=labeler_spec("clip"),
    draw=draw,
    extras={"channels": 768},  # feature channels the VQ tokenizer takes (ViT-B/16)
)


@hookimpl
def register_modalities(register):
    register(SPEC)
