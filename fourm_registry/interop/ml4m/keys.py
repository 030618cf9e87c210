"""State-dict keys: ml-4m's ``<side>_embeddings.<domain>.*`` ↔ fourm's ``<side>_embeddings.<modality>.*``.

Everything else (blocks, norms, ``decoder_proj_context``, ``mask_token``) has the same name in
both. ml-4m keeps a zero ``bias`` buffer in every bias-free LayerNorm; fourm has none, so
those are checked to be zero on the way in and written back as zeros on the way out.
"""
from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from ...errors import FourmError

SIDES = ("encoder_embeddings", "decoder_embeddings")


def split(key: str) -> tuple[str, str, str] | None:
    """``(side, domain-or-modality, rest)`` for an embedding key, else ``None``."""
    side, _, tail = key.partition(".")
    if side not in SIDES or not tail:
        return None
    # domain names contain '@' and '_' but never '.', so the first dot ends them
    name, _, rest = tail.partition(".")
    return side, name, rest


def rename(tensors: Mapping[str, torch.Tensor], names: Mapping[str, str]) -> dict[str, torch.Tensor]:
    """Keys with the embedding part renamed through ``names`` (old → new); others unchanged."""
    out = {}
    for key, value in tensors.items():
        parts = split(key)
        if parts is not None and parts[1] in names:
            key = f"{parts[0]}.{names[parts[1]]}.{parts[2]}"
        out[key] = value
    return out


def biasless_norms(model: nn.Module) -> list[str]:
    """Module names of the LayerNorms without a bias (ml-4m stores a zero buffer for each)."""
    return [name for name, mod in model.named_modules()
            if isinstance(mod, nn.LayerNorm) and mod.weight is not None and mod.bias is None]


def is_exact_zero(t: torch.Tensor) -> bool:
    """All +0.0 (a -0.0 would not survive the round trip byte for byte)."""
    return bool((t == 0).all()) and not bool(torch.signbit(t).any())


def drop_norm_biases(tensors: dict[str, torch.Tensor], model: nn.Module, source: str) -> None:
    """Remove the zero LayerNorm bias buffers the model has no slot for (in place)."""
    for name in biasless_norms(model):
        key = f"{name}.bias"
        if key not in tensors:
            continue
        if not is_exact_zero(tensors[key]):
            raise FourmError(f"{source}: {key} is not zero but the config says norm_bias=false.")
        del tensors[key]


def add_norm_biases(tensors: dict[str, torch.Tensor], model: nn.Module) -> None:
    """Add ml-4m's zero LayerNorm bias buffers (in place)."""
    modules = dict(model.named_modules())
    for name in biasless_norms(model):
        weight = modules[name].weight
        tensors[f"{name}.bias"] = torch.zeros_like(weight, memory_format=torch.contiguous_format).detach()
