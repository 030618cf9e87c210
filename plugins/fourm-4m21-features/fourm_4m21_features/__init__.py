"""fourm plugin: 4M-21's DINOv2 and ImageBind modalities, as feature maps and global embeddings."""
from __future__ import annotations

from fourm_registry import hookimpl

from .spec import SPECS


@hookimpl
def register_modalities(register):
    for spec in SPECS:
        register(spec)


__all__ = ["SPECS"]
