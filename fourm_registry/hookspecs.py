"""The hooks a fourm plugin may implement (pluggy project ``fourm``, entry-point group ``fourm``)."""
from __future__ import annotations

from typing import Any, Callable

import pluggy

hookspec = pluggy.HookspecMarker("fourm")
hookimpl = pluggy.HookimplMarker("fourm")


@hookspec
def register_modalities(register: Callable[[Any], None]) -> None:
    """Register modalities: call ``register(ModalitySpec(...))`` once per modality."""


@hookspec
def register_labelers(register: Callable[[Any], None]) -> None:
    """Register extra pseudo-labelers: call ``register(LabelerSpec(...))`` for an existing modality."""


@hookspec
def register_objectives(register: Callable[[Any], None]) -> None:
    """Register loss functions: call ``register(Objective(...))``; modalities name them in ``loss``."""


@hookspec
def register_families(register: Callable[[Any], None]) -> None:
    """Register model families: call ``register(ModelFamilySpec(...))``; run configs pick one by name."""


@hookspec
def register_commands(cli: Any) -> None:
    """Add commands or sub-apps to the ``fourm`` typer app passed as ``cli``."""
