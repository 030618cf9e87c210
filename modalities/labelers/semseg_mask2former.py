"""Semantic-segmentation pseudo-labels from Mask2Former (default: Swin-B, COCO panoptic, 133 classes).

Why this model: it is the one 4M used (``facebook/mask2former-swin-base-coco-panoptic``
is its transformers port). Per pixel, class scores are the query-class probabilities
(without the "no object" class) weighted by the query mask probabilities, and the label
is their argmax. Unlike transformers' ``post_process_semantic_segmentation``, the masks
are cropped to the image's un-padded region before being resized to H×W, so labels stay
aligned for any image size.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
import torch.nn.functional as F

from fourm_registry.errors import FourmError

from ._torch import check_model_ref, group_by_size, load_model, load_processor, model_dtype, to_pil


class Mask2FormerSemsegLabeler:
    """RGB images → H×W uint8 class ids (the checkpoint's ``id2label`` order)."""

    def __init__(self, model: str, device: str = "cpu", *, batch_size: int = 4):
        from transformers import Mask2FormerForUniversalSegmentation

        model = check_model_ref(model, "semseg")
        self.device, self.dtype, self.batch_size = device, model_dtype(device), batch_size
        self.model = load_model(Mask2FormerForUniversalSegmentation, model, device)
        self.processor = load_processor(model, "Mask2FormerImageProcessor")
        self.num_labels = int(self.model.config.num_labels)
        if self.num_labels > 256:
            raise FourmError(f"semseg labels are stored as 8-bit PNG; {model!r} has "
                             f"{self.num_labels} classes (at most 256)")

    @torch.inference_mode()
    def __call__(self, images: Sequence[np.ndarray]) -> list[np.ndarray]:
        out: list[np.ndarray | None] = [None] * len(images)
        for _, idx in group_by_size(images).items():
            for start in range(0, len(idx), self.batch_size):
                chunk = idx[start:start + self.batch_size]
                inputs = self.processor(images=to_pil([images[i] for i in chunk]), return_tensors="pt")
                pixels = inputs["pixel_values"].to(self.device, self.dtype)
                mask = inputs.get("pixel_mask")
                result = self.model(pixel_values=pixels,
                                    pixel_mask=mask.to(self.device) if mask is not None else None)
                classes = result.class_queries_logits.float().softmax(-1)[..., :-1]  # B×Q×C
                masks = result.masks_queries_logits.float().sigmoid()  # B×Q×h×w
                masks = F.interpolate(masks, size=pixels.shape[-2:], mode="bilinear", align_corners=False)
                for j, i in enumerate(chunk):
                    vh, vw = pixels.shape[-2:]
                    if mask is not None:
                        vh, vw = int(mask[j].any(1).sum()), int(mask[j].any(0).sum())
                    h, w = images[i].shape[:2]
                    m = F.interpolate(masks[j:j + 1, :, :vh, :vw], size=(h, w), mode="bilinear",
                                      align_corners=False)[0]
                    scores = torch.einsum("qc,qhw->chw", classes[j], m)
                    out[i] = scores.argmax(0).to(torch.uint8).cpu().numpy()
        return out  # type: ignore[return-value]
