"""Bounding boxes: instances serialised as ``v0=x0 v1=y0 v2=x1 v3=y1 <class>`` text (4M)."""
from __future__ import annotations

from typing import Any

from fourm_registry import MaskingSpec, ModalityKind, ModalitySpec, TokenizerSpec, hookimpl
from fourm_registry.codecs import json_codec
from fourm_registry.errors import not_built


def to_text(value: Any) -> str:
    raise not_built("det", "box serialisation", "tokenizers")


def from_text(text: str) -> Any:
    raise not_built("det", "box parsing", "tokenizers")


SPEC = ModalitySpec(
    name="det",
    kind=ModalityKind.SEQUENCE,
    description="Object bounding boxes",
    value='list of {"box": [x0, y0, x1, y1] pixels, "label": str, "score": float}',
    tokenizer=TokenizerSpec(vocab_size=30000, max_length=256, shared="text"),
    masking=MaskingSpec(rule="span"),
    codec=json_codec(),
    to_text=to_text,
    from_text=from_text,
)


@hookimpl
def register_modalities(register):
    register(SPEC)
