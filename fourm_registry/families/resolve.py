"""How a run config's ``model`` section picks its family: ``{family: NAME, ...}``, default the built-in.

The train config keeps a section that names a family as a :class:`FamilyModel` (the family's
own keys unvalidated); :func:`resolve_family` validates them against the family's config
model once the registry is known.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict

from ..errors import FourmError
from .spec import ModelFamilySpec


class FamilyModel(BaseModel):
    """A ``model`` section that names its family; the other keys belong to the family's config."""

    model_config = ConfigDict(extra="allow", frozen=True)

    family: str

    @property
    def settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


def family_of(section: Any) -> str | None:
    """The family a model section names (``None``: the default family)."""
    return section.family if isinstance(section, FamilyModel) else None


def resolve_family(section: Any, registry: Any) -> tuple[ModelFamilySpec, Any]:
    """The family spec and its validated model config (``None`` when the section is absent)."""
    spec = registry.get_family(family_of(section))
    if section is None:
        return spec, None
    if isinstance(section, FamilyModel):
        return spec, spec.validate_model(section.settings)
    if isinstance(section, spec.config):
        return spec, section
    if isinstance(section, BaseModel):
        return spec, spec.validate_model(section.model_dump(exclude_unset=True))
    if isinstance(section, dict):
        return spec, spec.validate_model(section)
    raise FourmError(f"model: expected a mapping, got {type(section).__name__}")
