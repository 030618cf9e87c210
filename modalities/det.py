"""Bounding boxes: instances serialised as ``v0=x0 v1=y0 v2=x1 v3=y1 <class>`` text (4M)."""
from __future__ import annotations

from typing import Any

import json

from fourm_registry import Codec, MaskingSpec, ModalityKind, ModalitySpec, TokenizerSpec, hookimpl
from fourm_registry.errors import not_built


class Detections(list):
    """A list of ``{"box": [x0, y0, x1, y1] pixels, "label": str, "score": float}`` that also
    knows the ``image_size`` (W, H) its pixel boxes refer to, so they can be normalised."""

    def __init__(self, instances=(), image_size: tuple[int, int] | None = None):
        super().__init__(instances)
        self.image_size = tuple(image_size) if image_size is not None else None


def _encode(value: Any) -> bytes:
    size = getattr(value, "image_size", None)
    if size is None:
        raise ValueError("det values must be Detections with an image_size (W, H)")
    return json.dumps({"image_size": list(size), "instances": list(value)}).encode("utf-8")


def _decode(data: bytes) -> Detections:
    obj = json.loads(data.decode("utf-8"))
    if not isinstance(obj, dict) or "instances" not in obj or "image_size" not in obj:
        raise ValueError("det JSON must be an object with 'image_size' and 'instances'")
    for inst in obj["instances"]:
        if len(inst.get("box", ())) != 4 or "label" not in inst:
            raise ValueError(f"malformed det instance {inst!r}")
    return Detections(obj["instances"], image_size=obj["image_size"])


def to_text(value: Any) -> str:
    raise not_built("det", "box serialisation", "tokenizers")


def from_text(text: str) -> Any:
    raise not_built("det", "box parsing", "tokenizers")


SPEC = ModalitySpec(
    name="det",
    kind=ModalityKind.SEQUENCE,
    description="Object bounding boxes",
    value='Detections: list of {"box": [x0, y0, x1, y1] pixels, "label", "score"} + image_size',
    tokenizer=TokenizerSpec(vocab_size=30000, max_length=256, shared="text"),
    masking=MaskingSpec(rule="span"),
    codec=Codec(extension="json", encode=_encode, decode=_decode),
    to_text=to_text,
    from_text=from_text,
)


@hookimpl
def register_modalities(register):
    register(SPEC)
