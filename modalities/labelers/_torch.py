"""Shared plumbing of the transformers labelers: loading, dtype per device, resizing, batching."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from fourm_registry.errors import FourmError


def model_dtype(device: str) -> torch.dtype:
    """fp32 on CPU; bf16 on GPUs that support it, else fp16."""
    if str(device).startswith("cuda"):
        return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
    return torch.float32


def check_model_ref(model: str | None, modality: str) -> str:
    """A model id or an existing local directory; a missing local path fails early and clearly."""
    if not model:
        raise FourmError(f"No model given for the {modality!r} labeler (use --model {modality}=PATH)")
    looks_local = model.startswith(("/", "./", "../", "~")) or Path(model).exists()
    if looks_local and not Path(model).expanduser().is_dir():
        raise FourmError(f"The {modality!r} labeler model directory {model!r} does not exist")
    return str(Path(model).expanduser()) if looks_local else model


def load_model(cls: Any, model: str, device: str) -> Any:
    """``cls.from_pretrained(model)`` in the device's dtype, in eval mode, on ``device``."""
    net = cls.from_pretrained(model, dtype=model_dtype(device))
    return net.to(device).eval()


def processor_class(name: str) -> Any:
    """A transformers image-processor class by name; its PIL variant when torchvision is absent
    (what transformers falls back to anyway, without the warning)."""
    import importlib.util

    import transformers

    if importlib.util.find_spec("torchvision") is None and hasattr(transformers, f"{name}Pil"):
        return getattr(transformers, f"{name}Pil")
    return getattr(transformers, name)


def load_processor(model: str, default: str) -> Any:
    """The checkpoint's image processor, or a default one of class ``default`` when it ships none."""
    from transformers import AutoImageProcessor

    try:
        return AutoImageProcessor.from_pretrained(model)
    except (OSError, ValueError):
        return processor_class(default)()


def group_by_size(images: Sequence[np.ndarray], key: Any = None) -> dict[Any, list[int]]:
    """Indices of images grouped by ``key(image)`` (default: their H×W), so each group stacks."""
    groups: dict[Any, list[int]] = {}
    for i, img in enumerate(images):
        k = key(img) if key is not None else tuple(img.shape[:2])
        groups.setdefault(k, []).append(i)
    return groups


def resize(image: np.ndarray, height: int, width: int) -> np.ndarray:
    """Bicubic resize of an H×W×3 uint8 image (no-op when the size already matches)."""
    if image.shape[:2] == (height, width):
        return image
    return np.asarray(Image.fromarray(image).resize((width, height), Image.BICUBIC))


def normalize(images: Sequence[np.ndarray], processor: Any, device: str,
              dtype: torch.dtype) -> torch.Tensor:
    """Same-size uint8 images → B×3×H×W pixel values, scaled and normalised as ``processor`` says."""
    x = torch.from_numpy(np.stack(images)).to(device).permute(0, 3, 1, 2).float()
    x = x * float(getattr(processor, "rescale_factor", 1 / 255))
    mean = torch.tensor(processor.image_mean, device=device).view(1, -1, 1, 1)
    std = torch.tensor(processor.image_std, device=device).view(1, -1, 1, 1)
    return ((x - mean) / std).to(dtype)


def to_pil(images: Sequence[np.ndarray]) -> list[Image.Image]:
    return [Image.fromarray(np.asarray(img, dtype=np.uint8)) for img in images]
