"""The fourm plugin (entry point ``cm3``): the CM3 decoder-only model family."""
from __future__ import annotations

from typing import Any

from fourm_registry import hookimpl
from fourm_registry.families import ModelFamilySpec

from .config import CM3Config
from .data import CM3Data, check, run_order, vocab_records


def build(model_cfg: CM3Config, registry: Any, specs: list[Any]) -> Any:
    from fourm_registry.model.pretrained import modality_record

    from .model import CM3

    return CM3(model_cfg, vocab_records(model_cfg, registry, specs), run_order(model_cfg, specs),
               {s.name: modality_record(s) for s in specs})


def load(directory: Any, registry: Any = None) -> Any:
    from .model import CM3

    return CM3.from_pretrained(directory)


def family() -> ModelFamilySpec:
    return ModelFamilySpec(
        name="cm3", config=CM3Config, build=build, data=CM3Data, check=check, load=load, generator=None,
        description="CM3: decoder-only causal transformer over interleaved modality tokens, span masking "
                    "moved to the end, mixed-modal decoding (Aghajanyan et al. 2022; JAM, Aiello et al. 2024)")


@hookimpl
def register_families(register: Any) -> None:
    register(family())
