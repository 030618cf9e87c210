"""The registry a command runs against: below every command module, so none imports the app."""
from __future__ import annotations

from typing import Any

import typer

from fourm_registry.registry import get_registry


def registry_from(ctx: typer.Context) -> Any:
    """The registry a command should use (a test may inject one via ``build_app``)."""
    obj = ctx.find_root().obj or {}
    return obj.get("registry") or get_registry()
