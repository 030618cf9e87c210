"""Per-sample multimodal masking: Dirichlet mixtures of token budgets, uniform and span masking."""
from __future__ import annotations

from .budgets import dirichlet_split, sample_budget
from .config import MaskingConfig, MixtureComponent
from .masker import Draw, MaskedModality, Masker, uniform_mask
from .span import mask_to_budget, merge_spans, span_mask, truncate_target

__all__ = ["Draw", "MaskedModality", "Masker", "MaskingConfig", "MixtureComponent", "dirichlet_split",
           "mask_to_budget", "merge_spans", "sample_budget", "span_mask", "truncate_target", "uniform_mask"]
