"""Shared fixtures: isolated registries (never the cached application one) and a CLI runner."""
from __future__ import annotations

import pytest
from typer.testing import CliRunner

from fourm_registry import Registry
from fourm_registry.allocator import tune_malloc

tune_malloc()  # the suite runs with the allocator the `fourm` command uses


@pytest.fixture
def registry() -> Registry:
    """A fresh registry of the built-ins (no third-party entry points)."""
    return Registry.build(allow=[])


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()
