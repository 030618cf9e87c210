"""CM3 for fourm: a decoder-only causal transformer over interleaved modality tokens (plugin ``cm3``)."""
from __future__ import annotations

from .config import CM3Config, CM3CrossConfig
from .cross import CM3Cross
from .model import CM3
from .vocab import Layout

__all__ = ["CM3", "CM3Config", "CM3Cross", "CM3CrossConfig", "Layout"]
