"""What ``fourm generate`` needs to know about a released ml-4m model directory before loading it:
the registry with the sizes its domains fix, and its input and target modalities."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from ...errors import FourmError


def is_official_dir(config: dict[str, Any]) -> bool:
    """True for an ml-4m model ``config.json`` (``domains_in``/``domains_out``, …)."""
    from .model import is_official_config

    return is_official_config(config)


def official_layout(path: Path, config: dict[str, Any], registry: Any) -> tuple[Any, list[str], list[str]]:
    """``(registry with the model's sizes, input modalities, target modalities)`` of an ml-4m dir."""
    from safetensors import safe_open

    from ...model.persistence import WEIGHTS_NAME, with_aliases
    from .model import plan_modalities

    weights = path / WEIGHTS_NAME
    if not weights.is_file():
        raise FourmError(f"--checkpoint {path}: no {WEIGHTS_NAME} next to the ml-4m config.json.")
    with safe_open(str(weights), framework="pt") as f:  # shapes only: meta tensors
        shapes = {k: torch.empty(f.get_slice(k).get_shape(), device="meta") for k in f.keys()}  # noqa: SIM118 (safe_open)
    names, overrides = plan_modalities(config, shapes, registry, str(path))
    registry = with_aliases(registry, overrides).with_overrides(overrides)  # 4M-SR: a second size
    inputs = list(dict.fromkeys(names[d] for d in config["domains_in"]))
    targets = list(dict.fromkeys(names[d] for d in config["domains_out"]))
    return registry, inputs, targets
