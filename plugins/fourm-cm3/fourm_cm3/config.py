"""The ``model`` section of a CM3 run (``model: {family: cm3, ...}``)."""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator


class CM3Config(BaseModel):
    """Size of the causal transformer, its vocabulary and the CM3 masking of its training data.

    ``vocab``: the modalities whose tokens the model's vocabulary holds, in order (default: the
    run's modalities). Two models can be merged only if they share it, so a text-only parent
    that will later be merged with an image-text one lists the image modality here too.
    ``order``: the order of a sample's segments in the interleaved sequence (default: ``vocab``
    order, restricted to the run's modalities). ``vocab_settings``: sizes of vocabulary
    modalities the run does not train on (``modalities.settings`` only takes the run's own),
    e.g. ``{rgb: {image_size: 32, patch_size: 4, vocab_size: 32}}`` for a text-only parent.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    dim: int = Field(default=64, gt=0)
    depth: int = Field(default=2, gt=0)
    num_heads: int = Field(default=2, gt=0)
    mlp_ratio: float = Field(default=4.0, gt=0)
    vocab: list[str] | None = None
    order: list[str] | None = None
    vocab_settings: dict[str, dict[str, Any]] = Field(default_factory=dict)
    mask_prob: float = Field(default=0.5, ge=0, le=1, description="probability a sample is CM3-masked")
    max_spans: int = Field(default=2, ge=1, description="masked spans per masked sample: 1..max_spans")
    span_mean: float = Field(default=3.0, gt=0, description="mean span length (geometric)")
    num_sentinels: int = Field(default=8, ge=1)
    norm_eps: float = Field(default=1e-6, gt=0)
    init_std: float = Field(default=0.02, gt=0)

    @model_validator(mode="after")
    def _heads(self) -> CM3Config:
        if self.dim % self.num_heads:
            raise ValueError(f"dim {self.dim} is not divisible by num_heads {self.num_heads}")
        if self.max_spans > self.num_sentinels:
            raise ValueError(f"max_spans {self.max_spans} needs as many sentinels (num_sentinels {self.num_sentinels})")
        return self


class CM3CrossConfig(BaseModel):
    """The ``model`` section of a cross-fused CM3 (``fourm merge --method cross``): both trunks' sizes.

    The data and masking settings of a continued run are trunk ``a``'s.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    a: CM3Config
    b: CM3Config
    every: int = Field(default=1, ge=1, description="a fusion layer after every k-th block")

    @model_validator(mode="after")
    def _same_depth(self) -> CM3CrossConfig:
        if self.a.depth != self.b.depth:
            raise ValueError(f"--method cross needs parents of the same depth: A has depth {self.a.depth}, "
                             f"B has depth {self.b.depth}")
        if self.a.vocab != self.b.vocab or self.a.num_sentinels != self.b.num_sentinels:
            raise ValueError("both trunks must share one vocabulary (vocab and num_sentinels)")
        return self
