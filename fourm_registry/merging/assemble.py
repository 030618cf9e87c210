"""Building the merged 4M and writing it as an ordinary export directory."""
from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import FourmError

SIZE_FIELDS = ("vocab_size", "image_size", "patch_size", "max_length")


def registry_for(records: Mapping[str, Mapping[str, Any]], registry: Any) -> Any:
    """The registry with each modality's exported sizes and extras re-applied (as loading does)."""
    missing = sorted(n for n in records if n not in registry.modalities)
    if missing:
        raise FourmError(f"Modalities {missing} of a parent are not registered here: install their plugins.")
    overrides = {n: {f: r[f] for f in (*SIZE_FIELDS, "extras") if r.get(f) is not None}
                 for n, r in records.items()}
    return registry.with_overrides(overrides)


def build_fourm(model_cfg: Mapping[str, Any], records: Mapping[str, Mapping[str, Any]], registry: Any) -> nn.Module:
    from ..model import build_model

    return build_model(dict(model_cfg), registry_for(records, registry), list(records))


def load_state(model: nn.Module, state: Mapping[str, torch.Tensor]) -> nn.Module:
    """Copy ``state`` into ``model`` (tied names get the same tensor)."""
    with torch.no_grad():
        own = model.state_dict()
        for name, tensor in state.items():
            own[name].copy_(tensor)
    return model


def modality_of(name: str) -> str | None:
    """The modality a parameter belongs to (``encoder_embeddings.<m>.…``), or None for the trunk."""
    head, _, rest = name.partition(".")
    if head in ("encoder_embeddings", "decoder_embeddings"):
        return rest.split(".", 1)[0]
    return None


def save_model_dir(model: nn.Module) -> Any:
    def save(tmp: Path) -> None:
        model.save_pretrained(tmp)

    return save
