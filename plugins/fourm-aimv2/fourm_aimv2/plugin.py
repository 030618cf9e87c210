"""The fourm plugin (entry point ``aimv2``): the AIMv2 model family and the ``aimv2`` labeler."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fourm_registry import FourmError, hookimpl
from fourm_registry.families import ModelFamilySpec

from .config import AIMv2Config
from .data import AIMv2Data, check


def build(model_cfg: AIMv2Config, registry: Any, specs: list[Any]) -> Any:
    from fourm_registry.model.pretrained import modality_record

    from .model import AIMv2

    by_name = {s.name: s for s in specs}
    image = by_name[model_cfg.image]
    text = by_name.get(model_cfg.text) if model_cfg.text else None
    wanted = [image, *([text] if text is not None else [])]
    return AIMv2(model_cfg, image.tokenizer.image_size, image.tokenizer.patch_size,
                 text.tokenizer.vocab_size if text else None, text.tokenizer.max_length if text else None,
                 modalities={s.name: modality_record(s) for s in wanted})


def load(directory: Any, registry: Any = None) -> Any:
    from .model import AIMv2

    return AIMv2.from_pretrained(directory)


def encode_features(model: Any, samples: Sequence[dict[str, Any]]) -> Any:
    """(B, N, D) bidirectional features of the samples' images (H×W×3 uint8, resized if need be)."""
    import numpy as np
    import torch
    from PIL import Image

    name, size = model.config.image, model.sizes["image_size"]
    if any(name not in s for s in samples):
        raise FourmError(f"AIMv2 features need the samples' {name!r} images.")
    arrays = []
    for s in samples:
        img = np.asarray(s[name], dtype=np.uint8)
        if img.shape[:2] != (size, size):
            img = np.asarray(Image.fromarray(img).convert("RGB").resize((size, size), Image.BICUBIC))
        arrays.append(img)
    device = next(model.parameters()).device
    return model.encode_features(torch.from_numpy(np.stack(arrays)).to(device))


def to_transformers(model: Any, out: Any) -> Any:
    """The run's encoder as a directory ``transformers.Aimv2VisionModel.from_pretrained`` loads."""
    model.encoder.save_pretrained(out)
    return out


def family() -> ModelFamilySpec:
    return ModelFamilySpec(
        name="aimv2", config=AIMv2Config, build=build, data=AIMv2Data, check=check, load=load,
        encode_features=encode_features, generator=None, exports={"transformers": to_transformers},
        description="AIMv2: prefix-causal ViT + autoregressive image/text decoder (Fini et al. 2024)")


@hookimpl
def register_families(register: Any) -> None:
    register(family())


@hookimpl
def register_modalities(register: Any) -> None:
    from .labeler import modality

    register(modality())
