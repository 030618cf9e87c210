"""AIMv2 as a fourm model family: encoder, pre-training model, config (see plugin.py for the hooks)."""
from __future__ import annotations

from .config import AIMv2Config, NativeResolution
from .encoder import AIMv2Encoder, prefix_mask
from .model import AIMv2, AIMv2Output, image_loss, normalised_patches

__all__ = ["AIMv2", "AIMv2Config", "AIMv2Encoder", "AIMv2Output", "NativeResolution", "image_loss",
           "normalised_patches", "prefix_mask"]
