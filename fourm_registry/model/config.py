"""The model config a user writes: a size preset (4M's tiny…xlarge) or a custom size, plus switches.

Defaults follow the released 4M / 4M-21 checkpoints: SwiGLU MLPs, no biases, LayerNorm
without bias (eps 1e-6), modality embeddings shared by encoder and decoder.
"""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from ..config import StrictModel

PresetName = Literal["tiny", "small", "base", "large", "xlarge"]

PRESETS: dict[str, dict[str, int]] = {
    "tiny": {"dim": 384, "encoder_depth": 6, "decoder_depth": 6, "num_heads": 6},
    "small": {"dim": 512, "encoder_depth": 8, "decoder_depth": 8, "num_heads": 8},
    "base": {"dim": 768, "encoder_depth": 12, "decoder_depth": 12, "num_heads": 12},
    "large": {"dim": 1024, "encoder_depth": 24, "decoder_depth": 24, "num_heads": 16},
    "xlarge": {"dim": 2048, "encoder_depth": 24, "decoder_depth": 24, "num_heads": 32},
}


class FourMConfig(StrictModel):
    """Transformer size and switches. Give ``preset`` or all of dim/depths/heads (or both: explicit wins)."""

    preset: PresetName | None = None
    dim: int = Field(default=None, gt=0, validate_default=False)  # type: ignore[assignment]
    encoder_depth: int = Field(default=None, ge=0, validate_default=False)  # type: ignore[assignment]
    decoder_depth: int = Field(default=None, ge=0, validate_default=False)  # type: ignore[assignment]
    num_heads: int = Field(default=None, gt=0, validate_default=False)  # type: ignore[assignment]
    mlp_ratio: float = Field(default=4.0, gt=0)
    gated_mlp: bool = True  # SwiGLU with hidden int(2 * mlp_ratio * dim / 3)
    act: Literal["silu", "gelu"] = "silu"
    qkv_bias: bool = False
    proj_bias: bool = False
    mlp_bias: bool = False
    norm_bias: bool = False
    norm_eps: float = Field(default=1e-6, gt=0)
    qk_norm: bool = False
    share_modality_embeddings: bool = True  # one modality embedding for encoder and decoder
    tie_sequence_embeddings: bool = True  # sequence decoders: input embedding = output head weight
    loss_type: Literal["modality", "token"] = "modality"  # mean of per-modality losses, or per token
    attention: Literal["sdpa", "math"] = "sdpa"  # "math": explicit matmul baseline (benchmarks)
    act_checkpoint: bool = False  # recompute each block in backward to save memory
    compile: bool = False  # torch.compile each transformer block (cold start: README "Measured")
    init_std: float = Field(default=0.02, gt=0)

    @model_validator(mode="before")
    @classmethod
    def _fill_from_preset(cls, data: Any) -> Any:
        if isinstance(data, dict) and data.get("preset"):
            preset = PRESETS.get(data["preset"])
            if preset is not None:  # an unknown name is reported by the Literal check
                data = {**data}
                for key, value in preset.items():
                    if data.get(key) is None:
                        data[key] = value
        return data

    @model_validator(mode="after")
    def _complete(self) -> FourMConfig:
        missing = [k for k in ("dim", "encoder_depth", "decoder_depth", "num_heads")
                   if getattr(self, k) is None]
        if missing:
            raise ValueError(f"give a preset ({', '.join(PRESETS)}) or set {', '.join(missing)}")
        if self.dim % self.num_heads:
            raise ValueError(f"dim {self.dim} is not divisible by num_heads {self.num_heads}")
        if self.dim % 4:
            raise ValueError(f"dim {self.dim} must be a multiple of 4 (2D sine-cosine positions)")
        return self

    @property
    def head_dim(self) -> int:
        return self.dim // self.num_heads

    @property
    def mlp_hidden(self) -> int:
        """Hidden width of one MLP, as 4M computes it (SwiGLU: two thirds, truncated)."""
        hidden = int(self.dim * self.mlp_ratio)
        return int(2 * hidden / 3) if self.gated_mlp else hidden
