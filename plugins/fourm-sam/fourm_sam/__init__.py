"""fourm plugin: 4M-21's SAM modalities, ``sam_instance`` and ``sam_edge``."""
from __future__ import annotations

from fourm_registry import hookimpl

from .spec import SPECS


@hookimpl
def register_modalities(register):
    for spec in SPECS:
        register(spec)


__all__ = ["SPECS"]
