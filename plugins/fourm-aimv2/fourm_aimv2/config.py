"""The ``model`` section of an AIMv2 run (``model: {family: aimv2, ...}``).

Sizes follow the paper's recipe in shape (ViT encoder, one decoder of fixed capacity for every
encoder size); the defaults are small enough to train on a CPU. Image and text modalities are
named here (defaults ``rgb`` and ``caption``); their sizes (image/patch size, vocabulary, max
length) come from the registry's specs and the run's ``modalities.settings``.
"""
from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

# OpenAI-CLIP statistics, which the released AIMv2 image processors use.
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

PRESETS: dict[str, dict[str, int]] = {  # encoder sizes; apple/aimv2-large-patch14 is dim 1024, depth 24
    "tiny": {"dim": 192, "depth": 6, "num_heads": 3},
    "small": {"dim": 384, "depth": 12, "num_heads": 6},
    "base": {"dim": 768, "depth": 12, "num_heads": 12},
    "large": {"dim": 1024, "depth": 24, "num_heads": 8},
}


class NativeResolution(BaseModel):
    """Native-resolution batches: area A = 2^n·base_size² with n ~ N(0, sigma) truncated to [-1, 1];
    the batch size is scaled so that A·B stays constant (rounded, at least 1)."""

    model_config = ConfigDict(extra="forbid")

    sigma: float = Field(default=0.5, gt=0)
    min_batch: int = Field(default=1, ge=1)


class AIMv2Config(BaseModel):
    model_config = ConfigDict(extra="forbid")

    preset: Literal["tiny", "small", "base", "large"] | None = None
    dim: int = Field(default=None, gt=0, validate_default=False)  # type: ignore[assignment]
    depth: int = Field(default=None, gt=0, validate_default=False)  # type: ignore[assignment]
    num_heads: int = Field(default=None, gt=0, validate_default=False)  # type: ignore[assignment]
    mlp_ratio: float = Field(default=2.75, gt=0)  # SwiGLU hidden = ratio·dim (AIMv2-L: 2816/1024)
    mlp_hidden_size: int | None = Field(default=None, gt=0)  # explicit encoder SwiGLU width (wins over ratio)
    pretrained_encoder: str | None = None  # a transformers Aimv2VisionModel dir / Hub id to start from
    decoder_dim: int = Field(default=128, gt=0)
    decoder_depth: int = Field(default=2, gt=0)
    decoder_heads: int = Field(default=4, gt=0)
    image: str = "rgb"  # modality read as raw pixels (its tokenizer's image_size/patch_size)
    text: str | None = "caption"  # token sequence decoded after the image (None: image-only AIM)
    alpha: float = Field(default=1.0, ge=0)  # L = L_text + alpha·L_img
    norm_eps: float = Field(default=1e-5, gt=0)
    qkv_bias: bool = False
    mlp_bias: bool = False
    init_std: float = Field(default=0.02, gt=0)
    mean: tuple[float, float, float] = CLIP_MEAN
    std: tuple[float, float, float] = CLIP_STD
    highres_adaptation: bool = False  # fine-tune at a higher resolution: no weight decay at all
    native_resolution: NativeResolution | None = None  # variable-resolution batches (sin-cos positions)

    @model_validator(mode="before")
    @classmethod
    def _preset(cls, data: object) -> object:
        if isinstance(data, dict):
            data = {**PRESETS.get(data.get("preset") or "", {}), **{k: v for k, v in data.items() if v is not None}}
            for key, value in {"dim": 64, "depth": 2, "num_heads": 4}.items():
                data.setdefault(key, value)
        return data

    @model_validator(mode="after")
    def _sizes(self) -> AIMv2Config:
        for d, h, what in ((self.dim, self.num_heads, "dim"), (self.decoder_dim, self.decoder_heads, "decoder_dim")):
            if d % h:
                raise ValueError(f"{what} {d} is not divisible by its number of heads {h}")
        return self

    @property
    def mlp_hidden(self) -> int:
        return self.mlp_hidden_size or int(round(self.mlp_ratio * self.dim))

    @property
    def decoder_mlp_hidden(self) -> int:
        return int(round(self.mlp_ratio * self.decoder_dim))
