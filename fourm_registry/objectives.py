"""The core's own plugin: losses any modality may name in ``ModalitySpec.loss``."""
from __future__ import annotations

from typing import Any

from .hookspecs import hookimpl
from .spec import Objective


def cross_entropy(logits: Any, targets: Any, mask: Any) -> Any:
    """Mean token cross-entropy over positions where ``mask`` is True (0 when none are)."""
    import torch.nn.functional as F

    mask = mask.bool()
    if mask.numel() and bool(mask.all()):  # the usual call: no boolean-index copy of the logits
        return F.cross_entropy(logits.reshape(-1, logits.shape[-1]).float(), targets.reshape(-1).long())
    if not mask.any():
        return logits.sum() * 0.0
    return F.cross_entropy(logits[mask].float(), targets[mask].long())


@hookimpl
def register_objectives(register: Any) -> None:
    register(Objective(name="cross_entropy", fn=cross_entropy))
