"""Bounding-box pseudo-labels from a transformers object detector (default: RT-DETR R101).

4M used ViTDet-H (Cascade Mask R-CNN), which transformers does not have. The closest
transformers detector in accuracy is RT-DETR R101 pre-trained on Objects365 and fine-tuned
on COCO (``PekingU/rtdetr_r101vd_coco_o365``, 56 box AP against ViTDet-H's ~60); it also
needs no timm (DETR's hub checkpoints do). Any ``AutoModelForObjectDetection`` checkpoint
with an image processor works (DETR, Deformable DETR, RT-DETR, ...). Detections below
0.6 confidence are dropped, as in 4M.
"""
from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch

from fourm_modalities._boxes import Detections

from ._torch import check_model_ref, group_by_size, load_model, model_dtype, to_pil

DEFAULT_THRESHOLD = 0.6


class DetectorLabeler:
    """RGB images → :class:`Detections` with pixel boxes ``[x0, y0, x1, y1]``, sorted by score."""

    def __init__(self, model: str, device: str = "cpu", *, threshold: float = DEFAULT_THRESHOLD,
                 batch_size: int = 8):
        from transformers import AutoImageProcessor, AutoModelForObjectDetection

        model = check_model_ref(model, "det")
        self.device, self.dtype = device, model_dtype(device)
        self.threshold, self.batch_size = threshold, batch_size
        self.model = load_model(AutoModelForObjectDetection, model, device)
        self.processor = AutoImageProcessor.from_pretrained(model)
        self.id2label = {int(k): str(v) for k, v in self.model.config.id2label.items()}

    @torch.inference_mode()
    def __call__(self, images: Sequence[np.ndarray]) -> list[Detections]:
        out: list[Detections | None] = [None] * len(images)
        for (h, w), idx in group_by_size(images).items():
            for start in range(0, len(idx), self.batch_size):
                chunk = idx[start:start + self.batch_size]
                inputs = self.processor(images=to_pil([images[i] for i in chunk]), return_tensors="pt")
                inputs = {k: (v.to(self.device, self.dtype) if v.is_floating_point() else v.to(self.device))
                          for k, v in inputs.items() if isinstance(v, torch.Tensor)}
                result = self.model(**inputs)
                for name in ("logits", "pred_boxes"):
                    setattr(result, name, getattr(result, name).float())
                found = self.processor.post_process_object_detection(
                    result, threshold=self.threshold, target_sizes=[(h, w)] * len(chunk))
                for j, i in enumerate(chunk):
                    out[i] = self._detections(found[j], w, h)
        return out  # type: ignore[return-value]

    def _detections(self, found: dict, w: int, h: int) -> Detections:
        insts = []
        for score, label, box in zip(found["scores"].tolist(), found["labels"].tolist(),
                                     found["boxes"].tolist()):
            if score < self.threshold:
                continue
            x0, y0, x1, y1 = (float(v) for v in box)
            x0, x1 = sorted((min(max(x0, 0.0), w), min(max(x1, 0.0), w)))
            y0, y1 = sorted((min(max(y0, 0.0), h), min(max(y1, 0.0), h)))
            insts.append({"box": [round(x0, 2), round(y0, 2), round(x1, 2), round(y1, 2)],
                          "label": self.id2label.get(int(label), str(label)),
                          "score": round(float(score), 4)})
        insts.sort(key=lambda d: -d["score"])
        return Detections(insts, image_size=(w, h))
