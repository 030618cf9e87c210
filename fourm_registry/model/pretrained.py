"""The public construction and persistence API: ``build_model``, ``save_pretrained``, ``from_pretrained``.

A thin floor above :mod:`.fourm`: the work is done in :mod:`.persistence`, which is handed
the :class:`FourM` class, so ``fourm.py`` never imports this module (no import circle).
``from_pretrained`` opens fourm's own directories and the released apple/ml-4m layout alike
(this module registers the ml-4m reader of :mod:`fourm_registry.interop.ml4m` with persistence).
"""
from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from ..errors import FourmError
from ..interop.ml4m.model import is_official_config, load_official
from ..spec import ModalitySpec
from . import persistence
from .config import FourMConfig
from .fourm import FourM
from .persistence import CONFIG_NAME, FORMAT, WEIGHTS_NAME, modality_record, registry_for

persistence.register_reader(is_official_config, load_official)  # released 4M checkpoints

__all__ = ["CONFIG_NAME", "FORMAT", "WEIGHTS_NAME", "build_model", "from_pretrained", "modality_record",
           "registry_for", "resize_grid", "save_pretrained"]


def build_model(model_cfg: FourMConfig | Mapping[str, Any], registry: Any,
                modalities: Iterable[str | ModalitySpec]) -> FourM:
    """A freshly initialised :class:`FourM` for ``modalities`` (names or specs) of ``registry``."""
    return persistence.build(FourM, model_cfg, registry, modalities)


def save_pretrained(model: FourM, directory: str | os.PathLike) -> Path:
    """Write ``config.json`` and ``model.safetensors`` (tied weights are stored once)."""
    return persistence.save_pretrained(model, directory)


def resize_grid(model: FourM, name: str, image_size: int) -> FourM:
    """Run grid modality ``name`` of ``model`` at ``image_size`` (same patch size): its encoder and
    decoder position tables are bicubically resampled, as ml-4m does (e.g. a 224 model on 28×28)."""
    spec = model.specs[name]
    if not spec.kind.is_grid or spec.tokenizer.grid is None:
        raise FourmError(f"Modality {name!r} is not a grid modality; it has no grid to resize.")
    extras = {"ml4m_domain": None} if "ml4m_domain" in spec.extras else {}  # the name follows the size
    new = spec.with_overrides(image_size=image_size, **({"extras": extras} if extras else {}))
    for side in (model.encoder_embeddings, model.decoder_embeddings):
        if name in side and hasattr(side[name], "resize_grid"):
            side[name].resize_grid(spec.tokenizer.grid, new.tokenizer.grid)
    model.specs[name] = new
    return model


def from_pretrained(path_or_id: str | os.PathLike, registry: Any = None, *, revision: str | None = None,
                    device: str = "cpu") -> FourM:
    """Load a model from a directory or Hub id: fourm's format or a released ml-4m checkpoint."""
    return persistence.from_pretrained(FourM, path_or_id, registry, revision=revision, device=device)
