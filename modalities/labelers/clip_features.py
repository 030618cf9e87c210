"""CLIP feature maps: the last transformer layer of CLIP ViT-B/16's vision tower (as 4M used).

Each image is resized (not cropped) to the model's input size so the h×w token grid stays
aligned with the whole image; the patch tokens of the last encoder layer (before the
final layer norm, CLS dropped) become an h×w×C float32 map (14×14×768 for ViT-B/16 at
224 px). The ``clip`` modality draws it as its 3-component PCA picture.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from ._torch import check_model_ref, load_model, load_processor, model_dtype, normalize, resize


class CLIPFeatureLabeler:
    """RGB images → h×w×C float32 feature maps."""

    def __init__(self, model: str, device: str = "cpu", *, batch_size: int = 16):
        from transformers import CLIPVisionModel

        model = check_model_ref(model, "clip")
        self.device, self.dtype, self.batch_size = device, model_dtype(device), batch_size
        self.model = load_model(CLIPVisionModel, model, device)
        self.processor = load_processor(model, "CLIPImageProcessor")
        cfg = self.model.config
        self.side, self.grid = int(cfg.image_size), int(cfg.image_size) // int(cfg.patch_size)

    @torch.inference_mode()
    def __call__(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        out = []
        for start in range(0, len(images), self.batch_size):
            chunk = [resize(img, self.side, self.side) for img in images[start:start + self.batch_size]]
            pixels = normalize(chunk, self.processor, self.device, self.dtype)
            tokens = self.model(pixel_values=pixels).last_hidden_state[:, 1:].float()
            maps = tokens.reshape(len(chunk), self.grid, self.grid, -1).cpu().numpy()
            out.extend(m.astype(np.float32) for m in maps)
        return out
