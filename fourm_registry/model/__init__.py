"""The 4M transformer, assembled from whatever modalities are registered."""
from __future__ import annotations

from .attention import KVCache
from .blocks import LayerCache
from .config import PRESETS, FourMConfig
from .fourm import FourM, FourMOutput
from .pretrained import build_model, from_pretrained, registry_for, resize_grid, save_pretrained

__all__ = ["PRESETS", "FourM", "FourMConfig", "FourMOutput", "KVCache", "LayerCache", "build_model",
           "from_pretrained", "registry_for", "resize_grid", "save_pretrained"]
