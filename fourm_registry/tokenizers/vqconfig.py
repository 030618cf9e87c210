"""The settings of a VQ-VAE tokenizer (no torch import: plugins build these at load time)."""
from __future__ import annotations

import math
from typing import Literal

from pydantic import Field, model_validator

from ..config import StrictModel

CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.safetensors"
Loss = Literal["mse", "smooth_l1", "l1", "l1_mse", "cross_entropy"]


class VQVAEConfig(StrictModel):
    """Everything needed to rebuild a VQ-VAE; saved as ``config.json`` beside the weights."""

    modality: str = ""
    in_channels: int = Field(gt=0)
    out_channels: int = Field(gt=0)
    vocab_size: int = Field(gt=1)
    pixels_per_token: int = Field(default=16, gt=0)
    code_dim: int = Field(default=32, gt=0)
    channels: list[int] | None = None  # per level; None: 32, 64, 128, 256, 256, …
    layers_per_block: int = Field(default=1, ge=1)
    norm_num_groups: int = Field(default=32, gt=0)
    loss: Loss = "mse"
    commitment_weight: float = Field(default=0.25, ge=0)  # 4M: 1.0; 0.25 avoids early collapse here
    ema_decay: float = Field(default=0.99, gt=0, lt=1)
    c_replace: float = Field(default=32.0, gt=0)
    replace_dead_codes: bool = True
    standardize: bool = False  # per-channel input mean/std, fitted on the first training batch
    decoder: Literal["conv", "diffusion"] = "conv"
    # diffusion decoder (DiVAE)
    unet_channels: list[int] = Field(default_factory=lambda: [64, 128, 256, 256])
    cond_channels: int = Field(default=32, gt=0)
    train_timesteps: int = Field(default=1000, gt=1)
    sample_steps: int = Field(default=25, gt=0)
    prediction_type: Literal["sample", "epsilon", "v_prediction"] = "sample"
    beta_schedule: Literal["linear", "scaled_linear", "squaredcos_cap_v2"] = "linear"
    image_size: int | None = None  # the resolution it was trained at (informational)

    @model_validator(mode="after")
    def _check(self) -> VQVAEConfig:
        ppt = self.pixels_per_token
        if ppt & (ppt - 1):
            raise ValueError(f"pixels_per_token {ppt} must be a power of two")
        if self.channels is not None and len(self.channels) != self.levels:
            raise ValueError(f"channels needs {self.levels} entries for pixels_per_token {ppt}, "
                             f"got {len(self.channels)}")
        bad = [c for c in self.level_channels + self.unet_channels if c % self.norm_num_groups]
        if bad:
            raise ValueError(f"channel counts {bad} are not multiples of norm_num_groups "
                             f"{self.norm_num_groups}")
        if self.decoder == "diffusion":
            if self.loss == "cross_entropy":
                raise ValueError("the diffusion decoder needs a regression loss, not cross_entropy")
            if ppt % 2 ** (len(self.unet_channels) - 1):
                raise ValueError(f"{len(self.unet_channels)} UNet levels need pixels_per_token to be a "
                                 f"multiple of {2 ** (len(self.unet_channels) - 1)}")
        return self

    @property
    def levels(self) -> int:
        return int(math.log2(self.pixels_per_token)) + 1

    @property
    def level_channels(self) -> list[int]:
        if self.channels is not None:
            return list(self.channels)
        return [min(32 * 2 ** i, 256) for i in range(self.levels)]
