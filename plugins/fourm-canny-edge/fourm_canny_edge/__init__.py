"""fourm plugin: the 4M-21 Canny edge modality (``canny_edge``)."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fourm_4m21_common.edges import EDGE_CODEC, EDGE_TOKENIZER, draw_edges, example_edges
from fourm_4m21_common.images import rgb_array
from fourm_registry import LabelerSpec, MaskingSpec, ModalityKind, ModalitySpec, TokenizerSpec, hookimpl


class CannyLabeler:
    """Canny edges of the grey image (scikit-image): Gaussian ``sigma``, hysteresis thresholds as
    fractions of the gradient range (``None``: scikit-image's defaults)."""

    def __init__(self, sigma: float = 2.0, low: float | None = None, high: float | None = None):
        self.sigma, self.low, self.high = sigma, low, high

    def __call__(self, images: Sequence[Any]) -> list[np.ndarray]:
        from skimage.color import rgb2gray
        from skimage.feature import canny

        out = []
        for i, img in enumerate(images):
            grey = rgb2gray(rgb_array(img, i))
            edges = canny(grey, sigma=self.sigma, low_threshold=self.low, high_threshold=self.high)
            out.append(np.where(edges, 255, 0).astype(np.uint8))
        return out


def make_labeler(model: str | None = None, device: str = "cpu") -> CannyLabeler:
    """``LabelerSpec.factory``: Canny needs no model (``model`` is ignored)."""
    return CannyLabeler()


SPEC = ModalitySpec(
    name="canny_edge",
    domains=("tok_canny_edge@{image_size}",),  # its name in ml-4m checkpoints
    kind=ModalityKind.DENSE,
    description="Canny edges",
    value="H×W uint8 (255 on edges)",
    tokenizer=TokenizerSpec(vocab_size=8192, image_size=224, patch_size=16, factory=EDGE_TOKENIZER),
    masking=MaskingSpec(rule="uniform"),
    codec=EDGE_CODEC,
    labeler=LabelerSpec(name="canny", modality="canny_edge", factory=make_labeler,
                        description="Canny edge detector (scikit-image), sigma 2"),
    draw=draw_edges,
    extras={"examples": lambda spec, rng: example_edges(rng, spec.tokenizer.image_size)},
)


@hookimpl
def register_modalities(register):
    register(SPEC)
