"""The ``aimv2`` feature-map modality and its labeler for ``fourm label`` (like the CLIP feature maps).

The labeler runs a transformers ``Aimv2VisionModel`` (default ``apple/aimv2-large-patch14-224``):
each image is resized (not cropped) to the model's input size and normalised by its image
processor (CLIP statistics when the directory has none); the ``last_hidden_state`` patch tokens
become an h×w×C float32 map (16×16×1024 for the large model at 224 px).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch

from fourm_registry import LabelerSpec, MaskingSpec, ModalityKind, ModalitySpec, TokenizerSpec
from fourm_registry.codecs import npy_codec

DEFAULT_MODEL = "apple/aimv2-large-patch14-224"


class AIMv2FeatureLabeler:
    def __init__(self, model: str | None, device: str = "cpu", *, batch_size: int = 16):
        from fourm_modalities.labelers._torch import load_processor, model_dtype

        from .encoder import AIMv2Encoder

        self.device, self.dtype, self.batch_size = device, model_dtype(device), batch_size
        self.encoder = AIMv2Encoder.from_pretrained(model or DEFAULT_MODEL, torch_dtype=self.dtype).to(device).eval()
        self.processor = load_processor(model or DEFAULT_MODEL, "CLIPImageProcessor")
        cfg = self.encoder.config
        self.side, self.grid = int(cfg.image_size), int(cfg.image_size) // int(cfg.patch_size)

    @torch.inference_mode()
    def __call__(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        from fourm_modalities.labelers._torch import normalize, resize

        out = []
        for start in range(0, len(images), self.batch_size):
            chunk = [resize(img, self.side, self.side) for img in images[start:start + self.batch_size]]
            pixels = normalize(chunk, self.processor, self.device, self.dtype)
            tokens = self.encoder.encode_features(pixels).float()
            out.extend(m.astype(np.float32) for m in tokens.reshape(len(chunk), self.grid, self.grid, -1).cpu().numpy())
        return out


def _draw(value: Any) -> Any:
    from fourm_modalities._draw import pca_rgb

    return pca_rgb(value)


def modality() -> ModalitySpec:
    from fourm_modalities import _vq_adapters

    return ModalitySpec(
        name="aimv2", kind=ModalityKind.FEATURE_MAP, description="AIMv2 (large, patch 14) feature map",
        value="h×w×C float32 (16×16×1024 at 224 px)",
        tokenizer=TokenizerSpec(vocab_size=8192, image_size=224, patch_size=14, factory=_vq_adapters.FEATURE_MAP),
        masking=MaskingSpec(rule="uniform"), codec=npy_codec(dtype="float32", ndim=3),
        labeler=LabelerSpec(name="aimv2", modality="aimv2", default_model=DEFAULT_MODEL,
                            factory=lambda model, device: AIMv2FeatureLabeler(model, device),
                            description="transformers Aimv2VisionModel last_hidden_state"),
        draw=_draw, extras={"channels": 1024})
