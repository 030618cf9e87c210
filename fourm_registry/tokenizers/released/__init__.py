"""The architectures of the released 4M tokenizers (``EPFL-VILAB/4M_tokenizers_*``).

ViT VQ-VAEs (segmentation, CLIP/DINOv2/ImageBind feature maps, SAM instances), DiVAEs with
a patched UNet (the image-like modalities) and BottleneckMLP + memcodes tokenizers (global
features, poses), with the parameter names of their checkpoints. Loading a released
directory or hub id is :mod:`fourm_registry.interop.ml4m.tokenizers`.
"""
from __future__ import annotations

from .mlp import MlpSize, parse_mlp_id
from .models import (
           Architecture,
           ReleasedDiVAE,
           ReleasedTokenizer,
           ReleasedVQVAE,
           ViTSize,
)
from .unet import UNetSize

__all__ = ["Architecture", "MlpSize", "ReleasedDiVAE", "ReleasedTokenizer", "ReleasedVQVAE", "UNetSize",
           "ViTSize", "parse_mlp_id"]
