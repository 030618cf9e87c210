"""SAM (transformers ``SamModel``) prompted with points: one image embedding, many point queries."""
from __future__ import annotations

from typing import Any

import numpy as np

from fourm_4m21_common import hf

DEFAULT_MODEL = "facebook/sam-vit-huge"  # 4M-21 labelled with SAM ViT-H


class SamRunner:
    """``masks(image, points)`` → (N×3×H×W bool masks at image size, N×3 predicted IoUs)."""

    def __init__(self, model: str, device: str = "cpu", chunk: int = 64):
        from transformers import SamModel, SamProcessor

        model = hf.model_ref(model, "sam")
        self.net = hf.load(SamModel, model, device)
        self.processor = SamProcessor.from_pretrained(model)
        self.device, self.chunk = device, chunk

    def masks(self, image: np.ndarray, points: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        import torch

        h, w = image.shape[:2]
        if len(points) == 0:
            return np.zeros((0, 3, h, w), bool), np.zeros((0, 3), np.float32)
        pts = [[[float(x), float(y)]] for x, y in points]
        q = self.processor(images=image, input_points=[pts], return_tensors="pt")
        with torch.inference_mode():
            emb = self.net.get_image_embeddings(q["pixel_values"].to(self.device))
        masks, scores = [], []
        for start in range(0, len(points), self.chunk):
            with torch.inference_mode():
                out = self.net(image_embeddings=emb, multimask_output=True,
                               input_points=q["input_points"][:, start:start + self.chunk].to(self.device))
            post = self.processor.image_processor.post_process_masks(
                out.pred_masks.cpu(), q["original_sizes"], q["reshaped_input_sizes"])[0]
            masks.append(np.asarray(post, dtype=bool))
            scores.append(out.iou_scores[0].float().cpu().numpy())
        return np.concatenate(masks), np.concatenate(scores)


def grid_points(width: int, height: int, per_side: int) -> np.ndarray:
    """``per_side``² points at the centres of a regular grid over the image (x, y pixels)."""
    xs = (np.arange(per_side) + 0.5) * width / per_side
    ys = (np.arange(per_side) + 0.5) * height / per_side
    return np.stack(np.meshgrid(xs, ys), -1).reshape(-1, 2)


def random_points(width: int, height: int, n: int, rng: Any) -> np.ndarray:
    return np.stack([rng.uniform(0, width, n), rng.uniform(0, height, n)], -1)
