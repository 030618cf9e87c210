"""What the sampler needs from a model, so the decoding logic is independent of FourM's internals.

A :class:`TokenPredictor` encodes a batch of visible tokens once and answers two kinds of
question about one target modality: logits at some grid positions (MaskGIT / ROAR), and
next-token logits of a sequence (autoregressive), optionally with a KV cache.
:mod:`.fourm_adapter` implements it for :class:`FourM`; tests use a tiny stand-in.
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol, runtime_checkable

import torch

from ..batch import Batch, ModalityBatch


@runtime_checkable
class SequenceDecoder(Protocol):
    """Next-token logits for a growing sequence. Called with *all* ids so far (B×T) each time;
    a cached decoder only runs the positions it has not seen yet."""

    def __call__(self, tokens: torch.Tensor) -> torch.Tensor:
        """B×T ids → B×V logits for position T."""


@runtime_checkable
class TokenPredictor(Protocol):
    """A model seen by the sampler."""

    @property
    def input_modalities(self) -> Sequence[str]:
        """Modalities the encoder accepts."""

    @property
    def target_modalities(self) -> Sequence[str]:
        """Modalities the decoder learned to predict."""

    def encode(self, batch: Batch) -> Any:
        """Encoder pass over the visible (``input_mask``) tokens of ``batch`` → an opaque context."""

    def grid_logits(self, context: Any, target: str, positions: torch.Tensor) -> torch.Tensor:
        """B×K×V logits of grid modality ``target`` at flat grid ``positions`` (B×K long)."""

    def sequence_decoder(self, context: Any, target: str, use_cache: bool = True) -> SequenceDecoder:
        """A next-token decoder for sequence modality ``target`` over ``context``."""

    def sequence_start(self, target: str) -> list[int]:
        """The ids a generated sequence starts with (fed to the decoder first, not part of the output)."""

    def sequence_stop(self, target: str) -> set[int]:
        """Ids that end a generated sequence (not part of the output)."""

    def sequence_input(self, target: str, ids: Sequence[Sequence[int]], batch_size: int) -> ModalityBatch:
        """Complete sequences (content ids, one list per sample) as an encoder input."""

    def num_tokens(self, modality: str) -> int:
        """Grid cells (grid kinds) or maximum length (sequences)."""

    def pad_id(self, modality: str) -> int:
        """The id written after a generated sequence ends."""
