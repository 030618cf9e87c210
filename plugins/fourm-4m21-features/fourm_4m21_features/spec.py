"""``dinov2``/``imagebind`` (16×16 feature maps at 224 px, patch 14) and their ``_global`` variants.

Feature maps are VQ-tokenised like CLIP (the core's VQ-VAE at token resolution); a global
embedding (one vector) becomes a 4×4 grid of 16 tokens through an MLP quantiser, as in
4M-21 (which declares them with patch size 56 at 224 px, hence 4×4).
"""
from __future__ import annotations

from typing import Any

import numpy as np

from fourm_4m21_common.vector_vq import VectorTokenizerFactory
from fourm_registry import LabelerSpec, MaskingSpec, ModalityKind, ModalitySpec, TokenizerSpec
from fourm_registry.codecs import npy_codec
from fourm_registry.tokenizers import DenseAdapter, DenseTokenizerFactory

from .labelers import make_factory
from .pictures import embedding_strip, pca_picture


def _channels(spec: Any) -> int:
    return int(spec.extras["channels"])


def _feature_adapter(spec: Any) -> DenseAdapter:
    channels = _channels(spec)

    def to_input(value: Any) -> np.ndarray:
        arr = np.asarray(value, dtype=np.float32)
        if arr.ndim != 3 or arr.shape[-1] != channels:
            raise ValueError(f"expected an h×w×{channels} feature map, got shape {arr.shape}")
        return arr.transpose(2, 0, 1)

    return DenseAdapter(in_channels=channels, to_input=to_input,
                        from_output=lambda y: y.transpose(1, 2, 0).astype(np.float32),
                        loss="mse", pixels_per_token=1,
                        defaults={"standardize": True, "channels": [256], "layers_per_block": 2})


def _vector(spec_channels: int):
    def to_vector(value: Any) -> np.ndarray:
        arr = np.asarray(value, dtype=np.float32)
        if arr.shape != (spec_channels,):
            raise ValueError(f"expected a {spec_channels}-vector, got shape {arr.shape}")
        return arr
    return to_vector


class _GlobalFactory(VectorTokenizerFactory):
    """MLP quantiser whose input width is the spec's ``extras['channels']``."""

    def __init__(self) -> None:
        super().__init__(to_vector=lambda v: np.asarray(v, dtype=np.float32).reshape(-1),
                         from_vector=lambda x: np.asarray(x, dtype=np.float32),
                         in_features=_channels, loss="cosine", hidden=1024, depth=2)


def feature_examples(spec: Any, rng: np.random.Generator) -> list[np.ndarray]:
    h, w = spec.tokenizer.grid
    return [rng.standard_normal((h, w, _channels(spec))).astype(np.float32) for _ in range(2)]


def global_examples(spec: Any, rng: np.random.Generator) -> list[np.ndarray]:
    return [rng.standard_normal(_channels(spec)).astype(np.float32) for _ in range(4)]


def _cosine_distance(a: Any, b: Any) -> float:
    a, b = np.asarray(a, np.float64).ravel(), np.asarray(b, np.float64).ravel()
    return max(0.0, float(1 - a @ b / max(np.linalg.norm(a) * np.linalg.norm(b), 1e-12)))


def _spec(name: str, family: str, channels: int, is_global: bool, model: str, what: str) -> ModalitySpec:
    if is_global:
        tok = TokenizerSpec(vocab_size=8192, image_size=224, patch_size=56, factory=_GlobalFactory())
        value, codec, draw = f"{channels} float32 (one embedding)", npy_codec(dtype="float32", ndim=1), embedding_strip
        extras = {"channels": channels, "learned_pos_emb": True, "examples": global_examples,
                  "distance": _cosine_distance}
    else:
        tok = TokenizerSpec(vocab_size=8192, image_size=224, patch_size=14,
                            factory=DenseTokenizerFactory(_feature_adapter))
        value, codec, draw = (f"16×16×{channels} float32 at 224 px", npy_codec(dtype="float32", ndim=3),
                              pca_picture)
        extras = {"channels": channels, "examples": feature_examples}
    return ModalitySpec(
        name=name, kind=ModalityKind.FEATURE_MAP,
        description=f"{what} {'global embedding' if is_global else 'feature map'}",
        value=value, tokenizer=tok, masking=MaskingSpec(rule="uniform"), codec=codec,
        labeler=LabelerSpec(name=f"{name}_labeler", modality=name, default_model=model,
                            factory=make_factory(family, is_global),
                            description=f"{what} via transformers"
                                        + (" (pooled output)" if is_global else " (patch tokens)")),
        draw=draw, extras=extras,
        domains=(f"tok_{name}",) if is_global else (f"tok_{name}@{{image_size}}",),  # ml-4m names
    )


# ImageBind's image tower is OpenCLIP ViT-H/14 (LAION-2B), kept frozen by ImageBind: the same
# weights load in transformers as CLIPVisionModel, so that is the labeler model.
IMAGEBIND_MODEL = "laion/CLIP-ViT-H-14-laion2B-s32B-b79K"
DINOV2_MODEL = "facebook/dinov2-base"

SPECS = [
    _spec("dinov2", "dinov2", 768, False, DINOV2_MODEL, "DINOv2-B/14"),
    _spec("dinov2_global", "dinov2", 768, True, DINOV2_MODEL, "DINOv2-B/14"),
    _spec("imagebind", "imagebind", 1280, False, IMAGEBIND_MODEL, "ImageBind-H/14 (OpenCLIP ViT-H/14)"),
    _spec("imagebind_global", "imagebind", 1280, True, IMAGEBIND_MODEL, "ImageBind-H/14 (OpenCLIP ViT-H/14)"),
]

__all__ = ["SPECS", "IMAGEBIND_MODEL", "DINOV2_MODEL"]
