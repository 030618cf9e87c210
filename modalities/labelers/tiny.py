"""Tiny, randomly initialised checkpoints of the labelers' transformers classes.

Weights cannot be downloaded everywhere, so tests and benchmarks build these, save them
with ``save_pretrained`` and label from the directory: the real loading and inference
path with meaningless weights. ``save_tiny(kind, path)`` writes one; ``KINDS`` lists them.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from ._torch import processor_class


def _dpt_config(**extra: Any) -> Any:
    from transformers import BitConfig, DPTConfig

    backbone = BitConfig(layer_type="bottleneck", global_padding="same", embedding_dynamic_padding=True,
                         depths=[1, 1, 1], hidden_sizes=[16, 32, 64], embedding_size=8, num_groups=4,
                         out_features=["stage1", "stage2", "stage3"])
    return DPTConfig(is_hybrid=True, backbone_config=backbone, hidden_size=32, num_hidden_layers=2,
                     num_attention_heads=2, intermediate_size=64, image_size=64, patch_size=16,
                     backbone_out_indices=[0, 0, 0, 1], neck_hidden_sizes=[16, 32, 32, 32],
                     fusion_hidden_size=16, reassemble_factors=[1, 1, 1, 0.5],
                     backbone_featmap_shape=[1, 64, 4, 4], **extra)


def _dpt_depth() -> tuple[Any, Any]:
    from transformers import DPTForDepthEstimation

    return DPTForDepthEstimation(_dpt_config()), processor_class("DPTImageProcessor")()


def _dpt_normal_head() -> tuple[Any, Any]:
    from transformers import DPTForSemanticSegmentation

    cfg = _dpt_config(num_labels=3, use_auxiliary_head=False)
    return DPTForSemanticSegmentation(cfg), processor_class("DPTImageProcessor")()


def _mask2former() -> tuple[Any, Any]:
    from transformers import Mask2FormerConfig, Mask2FormerForUniversalSegmentation, SwinConfig

    swin = SwinConfig(image_size=64, patch_size=4, embed_dim=16, depths=[1, 1, 1, 1],
                      num_heads=[1, 1, 2, 2], window_size=4,
                      out_features=["stage1", "stage2", "stage3", "stage4"])
    cfg = Mask2FormerConfig(backbone_config=swin, num_labels=133, hidden_dim=32, mask_feature_size=32,
                            feature_size=32, encoder_layers=1, decoder_layers=2, num_queries=10,
                            encoder_feedforward_dim=64, dim_feedforward=64, num_attention_heads=2)
    proc = processor_class("Mask2FormerImageProcessor")(size={"shortest_edge": 64, "longest_edge": 128})
    return Mask2FormerForUniversalSegmentation(cfg), proc


def _rtdetr() -> tuple[Any, Any]:
    from transformers import RTDetrConfig, RTDetrForObjectDetection, RTDetrResNetConfig

    backbone = RTDetrResNetConfig(embedding_size=16, hidden_sizes=[16, 32, 64, 128], depths=[1, 1, 1, 1],
                                  layer_type="basic", out_features=["stage2", "stage3", "stage4"])
    labels = ["person", "car", "dog", "cat", "chair"]
    cfg = RTDetrConfig(backbone_config=backbone, encoder_hidden_dim=32, d_model=32,
                       encoder_in_channels=[32, 64, 128], encoder_ffn_dim=64, decoder_ffn_dim=64,
                       decoder_layers=1, encoder_layers=1, num_queries=20, decoder_attention_heads=2,
                       encoder_attention_heads=2, decoder_in_channels=[32, 32, 32],
                       num_feature_levels=3, num_denoising=0, num_labels=len(labels),
                       id2label=dict(enumerate(labels)), label2id={n: i for i, n in enumerate(labels)})
    return RTDetrForObjectDetection(cfg), processor_class("RTDetrImageProcessor")(size={"height": 64, "width": 64})


def _clip() -> tuple[Any, Any]:
    from transformers import CLIPVisionConfig, CLIPVisionModel

    cfg = CLIPVisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                           num_attention_heads=2, image_size=64, patch_size=16)
    return CLIPVisionModel(cfg), processor_class("CLIPImageProcessor")(size={"shortest_edge": 64},
                                                    crop_size={"height": 64, "width": 64})


KINDS: dict[str, Callable[[], tuple[Any, Any]]] = {
    "depth": _dpt_depth, "normal_head": _dpt_normal_head, "semseg": _mask2former,
    "det": _rtdetr, "clip": _clip,
}
"""Kinds of tiny checkpoints; ``normal`` labeling from depth uses the ``depth`` one."""


def save_tiny(kind: str, path: str | Path, seed: int = 0) -> Path:
    """Build the tiny ``kind`` model with seeded random weights and save it (+ processor) to ``path``."""
    torch.manual_seed(seed)
    model, processor = KINDS[kind]()
    out = Path(path)
    model.save_pretrained(out)
    processor.save_pretrained(out)
    return out
