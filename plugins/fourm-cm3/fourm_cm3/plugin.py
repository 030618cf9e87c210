"""The fourm plugin (entry point ``cm3``): the CM3 decoder-only model family."""
from __future__ import annotations

from typing import Any

from fourm_registry import hookimpl
from fourm_registry.families import ModelFamilySpec

from .config import CM3Config, CM3CrossConfig
from .data import CM3Data, check, run_order, vocab_records


def build(model_cfg: CM3Config, registry: Any, specs: list[Any]) -> Any:
    from fourm_registry.model.pretrained import modality_record

    from .model import CM3

    return CM3(model_cfg, vocab_records(model_cfg, registry, specs), run_order(model_cfg, specs),
               {s.name: modality_record(s) for s in specs})


def load(directory: Any, registry: Any = None) -> Any:
    from .model import CM3

    return CM3.from_pretrained(directory)


def fuse(model_a: Any, model_b: Any, every: int, weights: tuple[float, float]) -> Any:
    from .cross import fuse as fuse_cm3

    return fuse_cm3(model_a, model_b, every, weights)


def build_cross(model_cfg: CM3CrossConfig, registry: Any, specs: list[Any]) -> Any:
    from fourm_registry.model.pretrained import modality_record

    from .cross import CM3Cross

    return CM3Cross(model_cfg, vocab_records(model_cfg.a, registry, specs), run_order(model_cfg.a, specs),
                    {s.name: modality_record(s) for s in specs})


def load_cross(directory: Any, registry: Any = None) -> Any:
    from .cross import CM3Cross

    return CM3Cross.from_pretrained(directory)


def family() -> ModelFamilySpec:
    return ModelFamilySpec(
        name="cm3", config=CM3Config, build=build, data=CM3Data, check=check, load=load, generator=None, fuse=fuse,
        description="CM3: decoder-only causal transformer over interleaved modality tokens, span masking "
                    "moved to the end, mixed-modal decoding (Aghajanyan et al. 2022; JAM, Aiello et al. 2024)")


def cross_family() -> ModelFamilySpec:
    """A cross-fused CM3 (``fourm merge --method cross``), so that ``fourm train --init`` continues it."""
    return ModelFamilySpec(
        name="cm3-cross", config=CM3CrossConfig, build=build_cross, load=load_cross, generator=None,
        data=lambda cfg, registry, specs, model_cfg: CM3Data(cfg, registry, specs, model_cfg.a),
        check=lambda section, specs, model_cfg: check(section, specs, model_cfg.a),
        description="two CM3 decoders joined by causal bi-directional cross-attention (JAM-Cross)")


@hookimpl
def register_families(register: Any) -> None:
    register(family())
    register(cross_family())
