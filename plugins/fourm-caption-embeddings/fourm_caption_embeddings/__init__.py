"""fourm plugin: caption embeddings as input-only modalities (``t5_caption``, ``minilm_caption``)."""
from __future__ import annotations

from fourm_registry import hookimpl

from .spec import SPECS


@hookimpl
def register_modalities(register):
    for spec in SPECS:
        register(spec)


__all__ = ["SPECS"]
