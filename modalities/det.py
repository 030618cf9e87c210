"""Bounding boxes: instances serialised as ``v0=x0 v1=y0 v2=x1 v3=y1 <class>`` text (4M)."""
from __future__ import annotations

import json
import math
import zlib
from typing import Any

from fourm_registry import Codec, MaskingSpec, ModalityKind, ModalitySpec, TokenizerSpec, hookimpl
from fourm_registry.codecs import strict_json_loads
from fourm_registry.tokenizers.sequence import TEXT_TOKENS_KEY, sequence_tokenizer_factory

from ._boxes import COCO_CLASSES, Detections, boxes_to_text, text_to_boxes
from .labelers import labeler_spec


def _encode(value: Any) -> bytes:
    size = getattr(value, "image_size", None)
    if size is None:
        raise ValueError("det values must be Detections with an image_size (W, H)")
    return json.dumps({"image_size": list(size), "instances": list(value)}).encode("utf-8")


def _number(x: Any) -> bool:
    return isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)


def _decode(data: bytes) -> Detections:
    obj = strict_json_loads(data)  # refuses NaN / Infinity
    if not isinstance(obj, dict) or not isinstance(obj.get("instances"), list) or "image_size" not in obj:
        raise ValueError("det JSON must be an object with 'image_size' and 'instances'")
    size = obj["image_size"]
    if not isinstance(size, list) or len(size) != 2 or not all(_number(v) and v > 0 for v in size):
        raise ValueError(f"det image_size must be two positive numbers (W, H), got {size!r}")
    for inst in obj["instances"]:
        box = inst.get("box") if isinstance(inst, dict) else None
        if not isinstance(box, list) or len(box) != 4 or not all(map(_number, box)) or "label" not in inst:
            raise ValueError(f"malformed det instance {inst!r} (a box is 4 finite numbers, plus a label)")
    return Detections(obj["instances"], image_size=size)


def to_text(value: Any) -> str:
    """Detections (pixel boxes + image_size) → ``v0=… v1=… v2=… v3=… <class>`` text."""
    size = getattr(value, "image_size", None)
    if size is None:
        raise ValueError("det values must be Detections with an image_size (W, H)")
    return boxes_to_text(value, size)


def from_text(text: str) -> Detections:
    """Box text (generated text too: never raises) → Detections in *normalised* coordinates.

    The boxes are fractions of the image (``image_size`` is ``(1, 1)``); use
    :func:`to_pixels` to place them on an image of known size.
    """
    return Detections(text_to_boxes(text), image_size=(1, 1))


def to_pixels(value: Detections, image_size: tuple[int, int]) -> Detections:
    """Rescale boxes given relative to ``value.image_size`` to an image of ``image_size`` (W, H)."""
    (w0, h0), (w, h) = value.image_size or (1, 1), image_size
    sx, sy = w / w0, h / h0
    return Detections(
        [{**inst, "box": [inst["box"][0] * sx, inst["box"][1] * sy, inst["box"][2] * sx,
                          inst["box"][3] * sy]} for inst in value],
        image_size=image_size,
    )


def draw(value: Any, background: Any = None) -> Any:
    """Boxes with their labels, on ``background`` (a PIL image, e.g. the photo) or on white.

    Boxes are placed relative to ``value.image_size`` (normalised for generated boxes), so
    they land on the same spot of a background of any size.
    """
    from PIL import Image, ImageDraw

    from ._draw import palette

    canvas = Image.new("RGB", (224, 224), "white") if background is None else background.convert("RGB")
    scale = max(1.0, 224 / min(canvas.size))  # tiny backgrounds: enlarge so labels stay legible
    canvas = canvas.resize((round(canvas.width * scale), round(canvas.height * scale)))
    size = getattr(value, "image_size", None) or (1, 1)
    boxes = to_pixels(Detections(list(value), image_size=size), canvas.size)
    colours = palette(len(COCO_CLASSES) + 1, seed=3)
    pen = ImageDraw.Draw(canvas)
    for inst in boxes:
        label = str(inst.get("label", ""))
        colour = tuple(int(v) for v in colours[_colour_index(label)])
        x0, y0, x1, y1 = inst["box"]
        pen.rectangle([min(x0, x1), min(y0, y1), max(x0, x1), max(y0, y1)], outline=colour, width=2)
        tx, ty = min(x0, x1), min(y0, y1)
        pen.rectangle(pen.textbbox((tx + 2, ty + 1), label), fill=colour)
        pen.text((tx + 2, ty + 1), label, fill="black" if sum(colour) > 380 else "white")
    return canvas


def _colour_index(label: str) -> int:
    """COCO labels keep their palette slot; any other label (e.g. a dataset's own) a stable one."""
    if label in COCO_CLASSES:
        return COCO_CLASSES.index(label) + 1
    return 1 + zlib.crc32(label.encode()) % len(COCO_CLASSES)


SPEC = ModalitySpec(
    name="det",
    domains=("det",),  # its name in ml-4m checkpoints
    kind=ModalityKind.SEQUENCE,
    description="Object bounding boxes",
    value='Detections: list of {"box": [x0, y0, x1, y1] pixels, "label", "score"} + image_size',
    tokenizer=TokenizerSpec(vocab_size=30000, max_length=256, shared="text",
                            factory=sequence_tokenizer_factory),
    masking=MaskingSpec(rule="span"),
    codec=Codec(extension="json", encode=_encode, decode=_decode),
    labeler=labeler_spec("det"),
    to_text=to_text,
    from_text=from_text,
    draw=draw,
    extras={TEXT_TOKENS_KEY: COCO_CLASSES,  # single tokens in the shared text vocabulary
            "draw_background": "rgb"},  # pictures draw the boxes on the photo
)


@hookimpl
def register_modalities(register):
    register(SPEC)
