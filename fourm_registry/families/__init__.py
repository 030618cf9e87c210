"""Model families as plugins: the contract (:class:`ModelFamilySpec`) and how a run picks one."""
from __future__ import annotations

from .resolve import FamilyModel, family_of, resolve_family
from .spec import ModelFamilySpec

__all__ = ["FamilyModel", "ModelFamilySpec", "family_of", "resolve_family"]
