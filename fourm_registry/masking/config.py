"""The masking mixture a user writes in YAML.

Example (4M-style: half RGB→all, half all→all)::

    input_tokens: 128
    target_tokens: [64, 128]       # drawn uniformly per sample
    components:
      - {name: rgb2all, weight: 1, input_alphas: {rgb: 1.0}, target_alphas: 0.5}
      - {name: all2all, weight: 1, input_alphas: 0.5, target_alphas: 0.5}

An alpha may be one number for every modality, a mapping (unlisted modalities get 0, i.e.
never sampled), or omitted (each modality's ``spec.masking.alpha``). ``keep_all`` lists
sequence modalities whose input is kept whole (caption-biased components).
"""
from __future__ import annotations

from pydantic import Field, field_validator

from ..config import StrictModel

Alphas = float | dict[str, float] | None
TokenRange = int | tuple[int, int]


class MixtureComponent(StrictModel):
    name: str = "all2all"
    weight: float = Field(default=1.0, gt=0)
    input_alphas: Alphas = None
    target_alphas: Alphas = None
    keep_all: list[str] = Field(default_factory=list)

    @field_validator("input_alphas", "target_alphas")
    @classmethod
    def _non_negative(cls, value: Alphas) -> Alphas:
        values = value.values() if isinstance(value, dict) else [] if value is None else [value]
        if any(v < 0 for v in values):
            raise ValueError("alphas must be >= 0")
        return value


class MaskingConfig(StrictModel):
    input_tokens: TokenRange = 128  # encoder token budget per sample (or [min, max])
    target_tokens: TokenRange = 128  # decoder token budget per sample (or [min, max])
    components: list[MixtureComponent] = Field(default_factory=list)  # empty: one all2all
    max_tries: int = Field(default=100, ge=1)  # redraws until every modality's min_tokens is met
    keep_prob_decay: float = Field(default=0.9, gt=0, lt=1)  # span masking: shrink keep-prob until it fits

    @field_validator("input_tokens", "target_tokens")
    @classmethod
    def _range(cls, value: TokenRange) -> TokenRange:
        lo, hi = (value, value) if isinstance(value, int) else value
        if lo < 0 or hi < lo:
            raise ValueError(f"token budget {value!r} must be >= 0 (and min <= max)")
        return value

    def mixture(self) -> list[MixtureComponent]:
        return self.components or [MixtureComponent()]
