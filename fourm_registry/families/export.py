"""Converting a run's export to another layout through the family that wrote it (``fourm convert``).

An export's ``config.json`` names its family (``"family"``; absent: the default family); the
family's ``load`` reads it back and one of its ``exports`` writes the target layout.
"""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from ..errors import FourmError
from .spec import ModelFamilySpec


def family_of_export(directory: str | Path, registry: Any) -> ModelFamilySpec:
    """The family that wrote ``directory`` (its ``config.json`` says which)."""
    cfg = Path(directory) / "config.json"
    if not cfg.is_file():
        raise FourmError(f"{directory}: no config.json (expected a run's export or save_pretrained directory).")
    try:
        record = json.loads(cfg.read_text())
    except ValueError as exc:
        raise FourmError(f"{cfg} is not valid JSON: {exc}") from None
    return registry.get_family(record.get("family") if isinstance(record, dict) else None)


def export_targets(registry: Any) -> dict[str, list[str]]:
    """Target layout -> the families that can write it."""
    out: dict[str, list[str]] = {}
    for name in registry.list_families():
        for target in registry.get_family(name).exports:
            out.setdefault(target, []).append(name)
    return out


def convert_export(source: str | Path, out: str | Path, target: str, registry: Any) -> Path:
    """Load ``source`` with its family and write it as ``target`` into ``out``."""
    family = family_of_export(source, registry)
    writer = family.exports.get(target)
    if writer is None:
        offered = ", ".join(sorted(family.exports)) or "none"
        raise FourmError(f"Model family {family.name!r} cannot be converted to {target!r} (it offers: {offered}).")
    if family.load is None:
        raise FourmError(f"Model family {family.name!r} declares no load: its exports cannot be read back.")
    written = writer(family.load(source, registry), Path(out))
    return Path(written) if written is not None else Path(out)
