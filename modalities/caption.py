"""Captions: UTF-8 text, WordPiece-tokenised with the shared text vocabulary (4M: 30k)."""
from __future__ import annotations

from typing import Any

from fourm_registry import MaskingSpec, ModalityKind, ModalitySpec, TokenizerSpec, hookimpl
from fourm_registry.codecs import text_codec
from fourm_registry.tokenizers.sequence import sequence_tokenizer_factory

from ._draw import text_card


def to_text(value: Any) -> str:
    return str(value)


def from_text(text: str) -> str:
    return text.strip()


SPEC = ModalitySpec(
    name="caption",
    domains=("caption",),  # its name in ml-4m checkpoints
    kind=ModalityKind.SEQUENCE,
    description="Image caption",
    value="str",
    tokenizer=TokenizerSpec(vocab_size=30000, max_length=256, shared="text",
                            factory=sequence_tokenizer_factory),
    masking=MaskingSpec(rule="span"),
    codec=text_codec(),
    to_text=to_text,
    from_text=from_text,
    draw=lambda value: text_card(str(value)),
)


@hookimpl
def register_modalities(register):
    register(SPEC)
