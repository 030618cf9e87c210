"""Every hook, with its exact signature, is documented in README.md (datasette's rule)."""
from __future__ import annotations

import inspect
from pathlib import Path

import pytest

from fourm_registry import hookspecs

README = (Path(__file__).parents[1] / "README.md").read_text()
HOOKS = [name for name, fn in inspect.getmembers(hookspecs, inspect.isfunction)
         if hasattr(fn, "fourm_spec")]


def test_there_are_hooks():
    assert {"register_modalities", "register_commands", "register_labelers",
            "register_objectives"} <= set(HOOKS)


@pytest.mark.parametrize("name", HOOKS)
def test_hook_is_documented_with_its_signature(name):
    params = ", ".join(inspect.signature(getattr(hookspecs, name)).parameters)
    assert f"### {name}({params})" in README, f"README lacks a '### {name}({params})' section"
