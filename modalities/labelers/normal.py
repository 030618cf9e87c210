"""Surface-normal pseudo-labels: a DPT with a 3-channel head, or normals derived from DPT depth.

4M labeled normals with Omnidata's DPT-hybrid normal model, which is not a transformers
checkpoint and has no transformers equivalent on the hub. So:

- given a local ``DPTForSemanticSegmentation`` checkpoint with ``num_labels == 3`` (a DPT
  with a 3-channel head, trained to output normals in the camera frame x right, y down,
  z forward), its output is resized to H×W and normalised to unit vectors;
- otherwise (the default, ``Intel/dpt-hybrid-midas``), normals are derived from the
  predicted relative depth by finite differences, assuming a pinhole camera with a 60°
  horizontal field of view. This is an approximation: MiDaS depth is only known up to
  scale and shift, the field of view is a guess, and edges are smoothed.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from ._torch import (check_model_ref, group_by_size, load_model, load_processor, model_dtype,
                     normalize, resize)
from .depth_dpt import DPTDepthLabeler, allow_any_square_size, square_side
from .geometry import intrinsics_from_fov, normals_from_depth

ASSUMED_FOV_DEG = 60.0


def has_normal_head(model: str) -> bool:
    """Whether the checkpoint is a DPT with a 3-channel dense head (a normal model)."""
    from transformers import AutoConfig

    cfg = AutoConfig.from_pretrained(model)
    archs = getattr(cfg, "architectures", None) or []
    return cfg.model_type == "dpt" and "DPTForSemanticSegmentation" in archs and cfg.num_labels == 3


class NormalLabeler:
    """RGB images → H×W×3 float32 unit normals in the camera frame."""

    def __init__(self, model: str, device: str = "cpu", *, fov_deg: float = ASSUMED_FOV_DEG,
                 max_size: int = 768, batch_size: int = 8):
        model = check_model_ref(model, "normal")
        self.fov_deg, self.max_size, self.batch_size = fov_deg, max_size, batch_size
        self.device, self.dtype = device, model_dtype(device)
        self.mode = "head" if has_normal_head(model) else "depth"
        if self.mode == "head":
            from transformers import DPTForSemanticSegmentation

            self.model = load_model(DPTForSemanticSegmentation, model, device)
            allow_any_square_size(self.model)
            self.processor = load_processor(model, "DPTImageProcessor")
        else:
            self.depth = DPTDepthLabeler(model, device, max_size=max_size, batch_size=batch_size)

    def __call__(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        if self.mode == "depth":
            out = []
            for img, depth in zip(images, self.depth(images)):
                h, w = img.shape[:2]
                out.append(normals_from_depth(depth, **intrinsics_from_fov(w, h, self.fov_deg)))
            return out
        return self._from_head(images)

    @torch.inference_mode()
    def _from_head(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        out: list[np.ndarray | None] = [None] * len(images)
        side_of = lambda img: square_side(*img.shape[:2], self.max_size)  # noqa: E731
        for side, idx in group_by_size(images, side_of).items():
            for start in range(0, len(idx), self.batch_size):
                chunk = idx[start:start + self.batch_size]
                pixels = normalize([resize(images[i], side, side) for i in chunk], self.processor,
                                   self.device, self.dtype)
                logits = self.model(pixel_values=pixels).logits.float()
                for j, i in enumerate(chunk):
                    h, w = images[i].shape[:2]
                    n = F.interpolate(logits[j:j + 1], size=(h, w), mode="bilinear", align_corners=False)
                    n = F.normalize(n[0], dim=0, eps=1e-6).permute(1, 2, 0)
                    n[n.norm(dim=-1) < 0.5] = torch.tensor([0.0, 0.0, -1.0])  # no direction: face the camera
                    out[i] = n.cpu().numpy().astype(np.float32)
        return out  # type: ignore[return-value]
