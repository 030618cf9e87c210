"""DINOv2 (``Dinov2Model``) and ImageBind (its frozen OpenCLIP ViT-H/14 tower, loaded as
``CLIPVisionModel``) labelers: patch tokens → h×w×C maps, pooled output → vector.

Images are resized to the model's input size (not cropped) so the token grid covers the whole
image, as the rgb modality does.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from fourm_4m21_common import hf

CLIP_MEAN, CLIP_STD = (0.48145466, 0.4578275, 0.40821073), (0.26862954, 0.26130258, 0.27577711)


class VisionFeatureLabeler:
    """RGB images → feature maps (h×w×C float32) or global embeddings (C float32)."""

    def __init__(self, family: str, model: str, device: str = "cpu", is_global: bool = False,
                 batch_size: int = 16):
        import transformers

        name = f"{family}{'_global' if is_global else ''}"
        model = hf.model_ref(model, name)
        cls = transformers.Dinov2Model if family == "dinov2" else transformers.CLIPVisionModel
        default = (hf.IMAGENET_MEAN, hf.IMAGENET_STD) if family == "dinov2" else (CLIP_MEAN, CLIP_STD)
        self.net = hf.load(cls, model, device)
        self.mean, self.std = hf.normalisation(model, default)
        cfg = self.net.config
        self.side, self.grid = int(cfg.image_size), int(cfg.image_size) // int(cfg.patch_size)
        self.device, self.is_global, self.batch_size = device, is_global, batch_size

    def __call__(self, images: Sequence[Any]) -> list[np.ndarray]:
        import torch

        out: list[np.ndarray] = []
        for start in range(0, len(images), self.batch_size):
            x = hf.pixels(images[start:start + self.batch_size], self.side, self.mean, self.std, self.device)
            with torch.inference_mode():
                res = self.net(pixel_values=x)
            if self.is_global:
                pooled = res.pooler_output if getattr(res, "pooler_output", None) is not None \
                    else res.last_hidden_state[:, 0]
                out.extend(v.float().cpu().numpy() for v in pooled)
            else:
                tokens = res.last_hidden_state[:, -self.grid * self.grid:].float().cpu().numpy()
                out.extend(t.reshape(self.grid, self.grid, -1) for t in tokens)
        return out


def make_factory(family: str, is_global: bool) -> Callable[[str, str], VisionFeatureLabeler]:
    def factory(model: str, device: str = "cpu") -> VisionFeatureLabeler:
        return VisionFeatureLabeler(family, model, device, is_global=is_global)
    return factory
