"""Semantic segmentation: H×W integer class ids (COCO panoptic: 133 classes); 4096 codes."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from PIL import Image

from fourm_registry import MaskingSpec, ModalityKind, ModalitySpec, TokenizerSpec, hookimpl
from fourm_registry.codecs import image_codec

from . import _vq_adapters
from ._coco_panoptic import COCO_PANOPTIC_CLASSES
from ._draw import palette
from .labelers import labeler_spec

NUM_CLASSES = 133
_PALETTE = palette(256, seed=7)


LEGEND_ROWS, LEGEND_WIDTH, ROW = 12, 150, 14


def class_name(i: int, names: Sequence[str] = COCO_PANOPTIC_CLASSES) -> str:
    return names[i] if 0 <= i < len(names) else f"class {i}"


def draw(value: Any, extras: Mapping[str, Any] | None = None) -> Image.Image:
    """Class ids through a fixed palette (the same colour for a class in every picture), with a
    legend of the largest classes on the right, named by ``extras["class_names"]`` when the
    data declares its own classes (a run sets it as a modality setting), else COCO panoptic's."""
    from PIL import ImageDraw

    names = (extras or {}).get("class_names") or COCO_PANOPTIC_CLASSES
    ids = np.asarray(value).astype(np.int64).clip(0, 255)
    seg = Image.fromarray(_PALETTE[ids])
    if min(seg.size) < 224:  # small maps: enlarge (nearest) so the legend does not dwarf them
        scale = -(-224 // min(seg.size))
        seg = seg.resize((seg.width * scale, seg.height * scale), Image.NEAREST)
    classes, counts = np.unique(ids, return_counts=True)
    shown = classes[np.argsort(-counts, kind="stable")][:LEGEND_ROWS]
    height = max(seg.height, ROW * len(shown) + 4)
    canvas = Image.new("RGB", (seg.width + LEGEND_WIDTH, height), "white")
    canvas.paste(seg, (0, 0))
    pen = ImageDraw.Draw(canvas)
    for row, c in enumerate(shown):
        x, y = seg.width + 4, 2 + ROW * row
        pen.rectangle([x, y, x + 10, y + 10], fill=tuple(int(v) for v in _PALETTE[c]), outline="black")
        pen.text((x + 14, y), class_name(int(c), names), fill="black")
    return canvas


SPEC = ModalitySpec(
    name="semseg",
    domains=("tok_semseg@{image_size}",),  # its name in ml-4m checkpoints
    kind=ModalityKind.DENSE,
    description="Semantic segmentation",
    value="H×W uint8 class ids",
    tokenizer=TokenizerSpec(vocab_size=4096, image_size=224, patch_size=16,
                            factory=_vq_adapters.SEMSEG),
    masking=MaskingSpec(rule="uniform"),
    codec=image_codec("png", mode="L"),
    labeler=labeler_spec("semseg"),
    draw=draw,
    extras={"num_classes": NUM_CLASSES, "class_names": None},
)


@hookimpl
def register_modalities(register):
    register(SPEC)
