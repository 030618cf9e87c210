"""The cross-fused 4M (``fourm merge --method cross``) as a model family, for ``fourm train --init``.

It trains on the core's masked 4M batches (``data=None``) and generates through the 4M
predictor. Built in (entry point ``fourm4m_cross``): a run config with ``model: {family: 4m-cross,
a: …, b: …, every: …}`` (the ``model`` section of the merged ``config.json``) continues a merge.
"""
from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from ..families import ModelFamilySpec
from ..hookspecs import hookimpl
from .cross_model import FAMILY


class CrossConfig(BaseModel):
    """Both trunks' 4M configs and the fusion interval."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    a: dict[str, Any]
    b: dict[str, Any]
    every: int = Field(default=1, ge=1)


def _build(model_cfg: CrossConfig, registry: Any, specs: list[Any]) -> Any:
    from .cross_model import build_cross

    return build_cross(model_cfg.model_dump(), specs, registry)


def _load(directory: Any, registry: Any) -> Any:
    from .cross_model import load_cross

    return load_cross(directory, registry)


def _generator(model: Any) -> Any:
    from ..generation.fourm_adapter import FourMPredictor

    return FourMPredictor(model)


def family() -> ModelFamilySpec:
    return ModelFamilySpec(name=FAMILY, config=CrossConfig, build=_build, data=None, load=_load,
                           generator=_generator,
                           description="two 4M trunks joined by bi-directional cross-attention (JAM-Cross)")


@hookimpl
def register_families(register: Any) -> None:
    register(family())
