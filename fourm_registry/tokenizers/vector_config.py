"""What a saved MLP vector quantiser is: its config and file names (no torch, no network)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field

from ..config import StrictModel

CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.safetensors"


class VectorVQConfig(StrictModel):
    """Everything needed to rebuild a :class:`VectorVQ`."""

    kind: Literal["vector_vq"] = "vector_vq"
    modality: str = ""
    in_features: int = Field(gt=0)
    num_tokens: int = Field(gt=0)
    vocab_size: int = Field(gt=1)
    code_dim: int = Field(default=32, gt=0)
    hidden: int = Field(default=512, gt=0)
    depth: int = Field(default=2, ge=1)
    loss: Literal["mse", "smooth_l1", "cosine"] = "mse"
    commitment_weight: float = Field(default=1.0, ge=0)
    ema_decay: float = Field(default=0.99, gt=0, lt=1)
    c_replace: float = Field(default=32.0, gt=0)
