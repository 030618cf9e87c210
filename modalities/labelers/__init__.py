"""Pseudo-labelers of the built-in modalities, each a transformers model loaded with
``from_pretrained(model_id_or_local_path)``.

The modality modules declare them with ``labeler=labeler_spec("<modality>")``. Factories
import torch/transformers only when called, so listing modalities stays fast. Defaults name
the models 4M used where transformers has them, and the closest equivalent where not (each
labeler module says why).
"""
from __future__ import annotations

from typing import Any

from fourm_registry import LabelerSpec


def _depth(model: str, device: str) -> Any:
    from .depth_dpt import DPTDepthLabeler

    return DPTDepthLabeler(model, device)


def _normal(model: str, device: str) -> Any:
    from .normal import NormalLabeler

    return NormalLabeler(model, device)


def _semseg(model: str, device: str) -> Any:
    from .semseg_mask2former import Mask2FormerSemsegLabeler

    return Mask2FormerSemsegLabeler(model, device)


def _det(model: str, device: str) -> Any:
    from .det_detector import DetectorLabeler

    return DetectorLabeler(model, device)


def _clip(model: str, device: str) -> Any:
    from .clip_features import CLIPFeatureLabeler

    return CLIPFeatureLabeler(model, device)


SPECS: dict[str, LabelerSpec] = {
    spec.modality: spec
    for spec in (
        LabelerSpec(
            name="dpt_depth", modality="depth", default_model="Intel/dpt-hybrid-midas",
            factory=_depth,
            description="DPT hybrid MiDaS (4M: DPT-hybrid); relative depth, images resized to a "
                        "multiple of 32 ≤ 768"),
        LabelerSpec(
            name="dpt_normal", modality="normal", default_model="Intel/dpt-hybrid-midas",
            factory=_normal,
            description="DPT with a 3-channel head from a local checkpoint; otherwise normals "
                        "derived from DPT depth (an approximation, 60° FOV assumed)"),
        LabelerSpec(
            name="mask2former_semseg", modality="semseg",
            default_model="facebook/mask2former-swin-base-coco-panoptic", factory=_semseg,
            description="Mask2Former Swin-B COCO panoptic (as 4M), 133 classes, per-pixel argmax"),
        LabelerSpec(
            name="rtdetr_det", modality="det", default_model="PekingU/rtdetr_r101vd_coco_o365",
            factory=_det,
            description="RT-DETR R101 (4M: ViTDet-H, not in transformers); score ≥ 0.6"),
        LabelerSpec(
            name="clip_b16_features", modality="clip", default_model="openai/clip-vit-base-patch16",
            factory=_clip,
            description="CLIP ViT-B/16 vision tower, last transformer layer as an h×w×768 map"),
    )
}


def labeler_spec(modality: str) -> LabelerSpec:
    """The built-in labeler declaration of ``modality``."""
    return SPECS[modality]
