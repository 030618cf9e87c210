"""fourm plugin: the 4M-21 metadata modality (``metadata``)."""
from __future__ import annotations

from fourm_registry import hookimpl

from .spec import SPEC


@hookimpl
def register_modalities(register):
    register(SPEC)


__all__ = ["SPEC"]
