"""Image statistics for the metadata modality, and counts taken from a sample's other modalities."""
from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image

from fourm_4m21_common.images import rgb_array


def image_statistics(image: np.ndarray) -> dict[str, float]:
    """Size, brightness (mean luma), RMS contrast, mean HSV saturation, Hasler–Süsstrunk
    colourfulness and the Shannon entropy (bits) of the luma histogram of one H×W×3 image."""
    rgb = image.astype(np.float64)
    luma = rgb @ np.array([0.299, 0.587, 0.114])
    rg, yb = rgb[..., 0] - rgb[..., 1], 0.5 * (rgb[..., 0] + rgb[..., 1]) - rgb[..., 2]
    colorful = np.hypot(rg.std(), yb.std()) + 0.3 * np.hypot(rg.mean(), yb.mean())
    hist = np.bincount(np.clip(luma, 0, 255).astype(np.int64).ravel(), minlength=256) / luma.size
    nz = hist[hist > 0]
    saturation = np.asarray(Image.fromarray(image).convert("HSV"))[..., 1].mean()
    return {
        "original_width": int(image.shape[1]), "original_height": int(image.shape[0]),
        "brightness": float(luma.mean()), "contrast": float(luma.std()),
        "saturation": float(saturation), "colorfulness": float(colorful),
        "entropy": float(-(nz * np.log2(nz)).sum()),
    }


def _count(value: Any) -> int | None:
    return len(value) if isinstance(value, list | tuple) else None


def sample_counts(sample: Mapping[str, Any]) -> dict[str, int]:
    """Caption lengths and instance counts from whichever of a sample's modalities are present."""
    out: dict[str, int] = {}
    caption = sample.get("caption")
    if isinstance(caption, str):
        out["caption_n_chars"] = len(caption)
        out["caption_n_words"] = len(caption.split())
        out["caption_n_sentences"] = len([s for s in re.split(r"[.!?]+", caption) if s.strip()])
    det = sample.get("det")
    if _count(det) is not None:
        out["n_coco_instances"] = len(det)
        out["coco_instance_diversity"] = len({d.get("label") for d in det if isinstance(d, Mapping)})
    if _count(sample.get("human_poses")) is not None:
        out["n_humans"] = len(sample["human_poses"])
    sam = sample.get("sam_instance")
    if _count(sam) is not None:
        out["n_sam_instances"] = sum(len(p.get("instances", ())) for p in sam if isinstance(p, Mapping))
    return out


class MetadataLabeler:
    """``labeler(images)`` → image statistics; ``label_samples(samples)`` adds the counts that
    other modalities of each sample give (caption, det, human_poses, sam_instance)."""

    def __call__(self, inputs: Sequence[Any]) -> list[dict[str, float]]:
        """Images → statistics; decoded samples (``fourm label``, ``inputs="sample"``) → statistics
        of ``__image__`` plus the counts of the sample's other fields."""
        if inputs and isinstance(inputs[0], Mapping):
            return self.label_samples(inputs, image_key="__image__")
        return [image_statistics(rgb_array(img, i)) for i, img in enumerate(inputs)]

    def label_samples(self, samples: Sequence[Mapping[str, Any]], image_key: str = "rgb") -> list[dict]:
        return [{**image_statistics(rgb_array(s[image_key], i)), **sample_counts(s)}
                for i, s in enumerate(samples)]


def make_labeler(model: str | None = None, device: str = "cpu") -> MetadataLabeler:
    """``LabelerSpec.factory``: statistics need no model (``model`` is ignored)."""
    return MetadataLabeler()
