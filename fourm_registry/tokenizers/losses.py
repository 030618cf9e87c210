"""Reconstruction losses of the dense tokenizers (conv and diffusion decoders alike)."""
from __future__ import annotations

import torch
import torch.nn.functional as F


def reconstruction_loss(kind: str, pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """MSE / smooth-L1 / L1 / L1+MSE on values; cross-entropy over channels against the target's argmax.

    L1 keeps pulling on small errors that MSE and smooth-L1 (quadratic below 1) stop caring
    about, so flat regions (a floor's normal) come back sharper; adding MSE keeps the large
    errors on small objects expensive."""
    if kind == "cross_entropy":
        return F.cross_entropy(pred, target.argmax(dim=1))
    if kind == "smooth_l1":
        return F.smooth_l1_loss(pred, target)
    if kind == "l1":
        return F.l1_loss(pred, target)
    if kind == "l1_mse":
        return F.l1_loss(pred, target) + F.mse_loss(pred, target)
    return F.mse_loss(pred, target)
