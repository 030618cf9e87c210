"""Surface normals: H×W×3 float32 unit vectors in the camera frame (x right, y down, z forward)."""
from __future__ import annotations

from typing import Any

import numpy as np
from PIL import Image

from fourm_registry import MaskingSpec, ModalityKind, ModalitySpec, TokenizerSpec, hookimpl
from fourm_registry.codecs import npy_codec

from . import _vq_adapters
from .labelers import labeler_spec


def draw(value: Any) -> Image.Image:
    """The usual normal picture: each component mapped from [-1, 1] to [0, 255]."""
    n = np.nan_to_num(np.asarray(value, dtype=np.float32))
    return Image.fromarray(((n.clip(-1, 1) + 1) * 127.5).astype(np.uint8))


SPEC = ModalitySpec(
    name="normal",
    domains=("tok_normal@{image_size}",),  # its name in ml-4m checkpoints
    kind=ModalityKind.DENSE,
    description="Surface normals",
    value="H×W×3 float32 unit vectors, camera frame",
    tokenizer=TokenizerSpec(vocab_size=8192, image_size=224, patch_size=16,
                            factory=_vq_adapters.NORMAL),
    masking=MaskingSpec(rule="uniform"),
    codec=npy_codec(dtype="float32", ndim=3, channels=3),
    labeler=labeler_spec("normal"),
    draw=draw,
)


@hookimpl
def register_modalities(register):
    register(SPEC)
