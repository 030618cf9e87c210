"""The AIMv2 vision encoder, built on transformers' ``Aimv2VisionModel`` (same modules, same keys).

RMSNorm, SwiGLU, no CLS token. Pre-training passes a prefix-causal mask (``prefix_mask``);
inference (``encode_features``) is fully bidirectional. Because the module *is* transformers'
vision model, ``from_pretrained`` of an ``apple/aimv2-*`` directory and ``save_pretrained`` back
are lossless and give exactly transformers' ``last_hidden_state``.
"""
from __future__ import annotations

import os
from typing import Any

import torch
from torch import nn


def prefix_mask(prefix: torch.Tensor, num_patches: int) -> torch.Tensor:
    """B×N×N bool, True where query i may attend to key j: the first ``prefix[b]`` patches see
    each other (bidirectional); every later patch sees the prefix and the patches before it."""
    idx = torch.arange(num_patches, device=prefix.device)
    causal = idx[None, :, None] >= idx[None, None, :]
    in_prefix = idx[None, None, :] < prefix[:, None, None]
    return causal | in_prefix


def additive(allowed: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """A bool B×N×N mask as the B×1×N×N additive float mask transformers' attention takes."""
    out = torch.zeros(allowed.shape, dtype=dtype, device=allowed.device)
    return out.masked_fill(~allowed, torch.finfo(dtype).min)[:, None]


def vision_config(dim: int, depth: int, heads: int, hidden: int, image_size: int, patch_size: int,
                  eps: float = 1e-5, qkv_bias: bool = False, mlp_bias: bool = False, native: bool = False,
                  init_std: float = 0.02) -> Any:
    from transformers import Aimv2VisionConfig

    return Aimv2VisionConfig(hidden_size=dim, intermediate_size=hidden, num_hidden_layers=depth,
                             num_attention_heads=heads, image_size=image_size, patch_size=patch_size,
                             rms_norm_eps=eps, qkv_bias=qkv_bias, mlp_bias=mlp_bias, use_head=False,
                             is_native=native, initializer_range=init_std)


class AIMv2Encoder(nn.Module):
    """``vision`` is a ``transformers.Aimv2VisionModel``; features are its ``last_hidden_state``."""

    def __init__(self, config: Any):
        super().__init__()
        from transformers import Aimv2VisionModel

        self.vision = Aimv2VisionModel(config)

    @property
    def config(self) -> Any:
        return self.vision.config

    @property
    def dim(self) -> int:
        return int(self.config.hidden_size)

    @property
    def patch_size(self) -> int:
        return int(self.config.patch_size)

    @classmethod
    def from_pretrained(cls, path_or_id: str | os.PathLike, **kwargs: Any) -> AIMv2Encoder:
        """An encoder from a ``transformers.Aimv2VisionModel`` directory or Hub id (``apple/aimv2-*``)."""
        from transformers import Aimv2VisionModel

        from fourm_registry import FourmError

        try:
            vision = Aimv2VisionModel.from_pretrained(str(path_or_id), **kwargs)
        except (OSError, ValueError) as exc:
            raise FourmError(f"Could not load an Aimv2VisionModel from {path_or_id}: {exc}") from exc
        enc = cls.__new__(cls)
        nn.Module.__init__(enc)
        enc.vision = vision
        return enc

    def save_pretrained(self, directory: str | os.PathLike) -> None:
        """A directory ``transformers.Aimv2VisionModel.from_pretrained`` loads (config + safetensors)."""
        self.vision.save_pretrained(str(directory), safe_serialization=True)

    def forward(self, pixel_values: torch.Tensor, prefix: torch.Tensor | None = None) -> torch.Tensor:
        """B×N×D features of normalised B×3×H×W images; ``prefix`` (B,) makes attention prefix-causal."""
        kwargs: dict[str, Any] = {}
        if prefix is not None:
            n = (pixel_values.shape[-2] // self.patch_size) * (pixel_values.shape[-1] // self.patch_size)
            kwargs["attention_mask"] = additive(prefix_mask(prefix, n), pixel_values.dtype)
        return self.vision(pixel_values=pixel_values, **kwargs).last_hidden_state

    def encode_features(self, pixel_values: torch.Tensor) -> torch.Tensor:
        """Bidirectional B×N×D features (inference), as transformers' ``last_hidden_state``."""
        return self.forward(pixel_values)
