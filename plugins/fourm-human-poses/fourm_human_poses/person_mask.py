"""``person_mask``: where people are (H×W uint8, 255 on a person), VQ-tokenised like edges.

Labeled by MediaPipe's selfie segmentation model (real weights in the mediapipe 0.10.14
wheel; trained on people close to the camera, so it is rough on distant figures).
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

from fourm_4m21_common.edges import EDGE_CODEC, EDGE_TOKENIZER, draw_edges, example_edges
from fourm_4m21_common.images import rgb_array
from fourm_registry import LabelerSpec, MaskingSpec, ModalityKind, ModalitySpec, TokenizerSpec
from fourm_registry.errors import FourmError


class SelfieSegmentationLabeler:
    """Person probability > ``threshold`` → 255."""

    def __init__(self, threshold: float = 0.5):
        try:
            from mediapipe.python.solutions import selfie_segmentation
        except ImportError as exc:
            raise FourmError("The person_mask labeler needs the [mediapipe] extra: "
                             "pip install 'fourm-human-poses[mediapipe]'") from exc
        self.model = selfie_segmentation.SelfieSegmentation(model_selection=0)
        self.threshold = threshold

    def __call__(self, images: Sequence[Any]) -> list[np.ndarray]:
        out = []
        for i, img in enumerate(images):
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", message=".*GetPrototype.*")
                prob = self.model.process(rgb_array(img, i)).segmentation_mask
            out.append(np.where(prob > self.threshold, 255, 0).astype(np.uint8))
        return out


def make_labeler(model: str | None = None, device: str = "cpu") -> SelfieSegmentationLabeler:
    """``LabelerSpec.factory``: the weights ship in the mediapipe wheel (``model`` unused)."""
    return SelfieSegmentationLabeler()


SPEC = ModalitySpec(
    name="person_mask",
    kind=ModalityKind.DENSE,
    description="Person segmentation mask",
    value="H×W uint8 (255 on people)",
    tokenizer=TokenizerSpec(vocab_size=8192, image_size=224, patch_size=16, factory=EDGE_TOKENIZER),
    masking=MaskingSpec(rule="uniform"),
    codec=EDGE_CODEC,
    labeler=LabelerSpec(name="mediapipe_selfie", modality="person_mask", factory=make_labeler,
                        description="MediaPipe selfie segmentation (real weights in the mediapipe "
                                    "0.10.14 wheel)"),
    draw=draw_edges,
    extras={"examples": lambda spec, rng: example_edges(rng, spec.tokenizer.image_size)},
)
