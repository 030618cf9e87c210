"""Loading transformers models for labelers: ``from_pretrained(model id or local folder)``."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from fourm_registry.errors import FourmError

from .images import rgb_array

IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def model_ref(model: str | None, modality: str) -> str:
    """A model id or an existing local folder; a missing local folder fails early and clearly."""
    if not model:
        raise FourmError(f"No model given for the {modality!r} labeler (a model id or local folder).")
    local = model.startswith(("/", "./", "../", "~")) or Path(model).exists()
    if local and not Path(model).expanduser().is_dir():
        raise FourmError(f"The {modality!r} labeler model folder {model!r} does not exist.")
    return str(Path(model).expanduser()) if local else model


def load(cls: Any, model: str, device: str = "cpu") -> Any:
    """``cls.from_pretrained(model)`` in eval mode on ``device``."""
    try:
        net = cls.from_pretrained(model)
    except OSError as exc:
        raise FourmError(f"Cannot load {cls.__name__} from {model!r}: {exc}") from exc
    return net.to(device).eval()


def normalisation(model: str, default: tuple[tuple[float, ...], tuple[float, ...]] = (IMAGENET_MEAN, IMAGENET_STD)
                  ) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """The checkpoint's image processor mean/std, or ``default`` when it ships no processor."""
    from transformers import AutoImageProcessor

    try:
        proc = AutoImageProcessor.from_pretrained(model)
        return tuple(proc.image_mean), tuple(proc.image_std)
    except (OSError, ValueError, AttributeError):
        return default


def pixels(images: Sequence[Any], side: int, mean: Sequence[float], std: Sequence[float],
           device: str = "cpu") -> Any:
    """Images resized (not cropped, so token grids cover the whole image) → B×3×side×side."""
    import torch

    arrs = []
    for i, img in enumerate(images):
        arr = rgb_array(img, i)
        if arr.shape[:2] != (side, side):
            arr = np.asarray(Image.fromarray(arr).resize((side, side), Image.BICUBIC))
        arrs.append(arr)
    x = torch.from_numpy(np.stack(arrs)).permute(0, 3, 1, 2).float().div(255.0)
    m = torch.tensor(mean).view(1, -1, 1, 1)
    s = torch.tensor(std).view(1, -1, 1, 1)
    return ((x - m) / s).to(device)
