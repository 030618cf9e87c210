"""The built-in family: the 4M masked any-to-any encoder-decoder, registered like any other family.

Its data is the core's masked token pipeline (``data=None``); its features for probing are the
encoder's normalised outputs over one fully visible image-like input modality.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..errors import FourmError
from ..hookspecs import hookimpl
from .spec import ModelFamilySpec

NAME = "4m"


def _build(model_cfg: Any, registry: Any, specs: list[Any]) -> Any:
    from ..model import build_model

    return build_model(model_cfg, registry, specs)


def _load(directory: Any, registry: Any) -> Any:
    from ..model import FourM

    return FourM.from_pretrained(directory, registry)


def _generator(model: Any) -> Any:
    from ..generation.fourm_adapter import FourMPredictor

    return FourMPredictor(model)


def image_modality(model: Any, fields: Sequence[str] | None = None) -> str | None:
    """The first grid input modality of ``model`` (whose shard field is in ``fields``, if given)."""
    from ..data import source_field

    for name, spec in model.specs.items():
        if name in model.encoder_embeddings and spec.kind.is_grid:
            if fields is None or source_field(spec) in fields:
                return name
    return None


def encode_features(model: Any, samples: Sequence[dict[str, Any]]) -> Any:
    """B×N×D encoder features (after the encoder's final norm) of one image-like input, all visible."""
    import numpy as np
    import torch

    from ..batch import ModalityBatch
    from ..data import prepare_sample, source_field

    name = image_modality(model, list(samples[0]))
    if name is None:
        grids = [s.name for s in model.specs.values() if s.kind.is_grid]
        raise FourmError(f"The samples hold none of the model's image inputs ({[source_field(model.specs[g]) for g in grids]}); "
                         "tokenise them first (fourm tokenize).")
    spec = model.specs[name]
    arrays = [prepare_sample(s, [spec])[name] for s in samples]
    device = next(model.parameters()).device
    inputs = torch.from_numpy(np.stack(arrays)).to(device)
    mb = ModalityBatch(inputs=inputs, input_mask=torch.ones(inputs.shape[:2], dtype=torch.bool, device=device))
    captured: list[Any] = []
    handle = model.encoder_norm.register_forward_hook(lambda _m, _i, out: captured.append(out))
    try:
        model.encode({name: mb})
    finally:
        handle.remove()
    return captured[-1]


def family() -> ModelFamilySpec:
    from ..model import FourMConfig

    return ModelFamilySpec(
        name=NAME, description="4M: masked any-to-any encoder-decoder over modality tokens",
        config=FourMConfig, build=_build, data=None, load=_load, encode_features=encode_features,
        generator=_generator, default=True)


@hookimpl
def register_families(register: Any) -> None:
    register(family())
