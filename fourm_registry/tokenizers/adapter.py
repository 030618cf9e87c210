"""How a dense (grid) modality plugs into the generic VQ tokenizer, without importing torch.

A modality plugin says how its raw values become network inputs with a
:class:`DenseAdapter` and sets ``TokenizerSpec(factory=DenseTokenizerFactory(adapter))``
(:mod:`.factory`); everything else (model, codebook, training, saving) is generic.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np

from ..errors import FourmError
from .vqconfig import VQVAEConfig

class BadValueError(FourmError, ValueError):
    """A raw value or token array that a tokenizer cannot take (names modality and sample)."""


def sample_label(keys: Sequence[Any] | None, i: int) -> str:
    """How error messages name value ``i`` of a batch: its sample key, else its position."""
    return repr(keys[i]) if keys is not None and i < len(keys) else f"#{i}"


@dataclass(frozen=True)
class DenseAdapter:
    """The modality-specific half of a VQ tokenizer.

    ``to_input(value)`` turns a raw value into a C×H×W float32 array and raises
    ``ValueError`` (wrong shape, channel count, NaNs, out-of-range ids…) for values it
    cannot take; ``from_output(array)`` turns a C_out×H×W model output back into a raw value.
    ``pixels_per_token`` of ``None`` means the spec's patch size (image-like values); feature
    maps already at token resolution use 1.
    """

    in_channels: int
    to_input: Callable[[Any], np.ndarray]
    from_output: Callable[[np.ndarray], Any]
    loss: Literal["mse", "smooth_l1", "cross_entropy"] = "mse"
    out_channels: int | None = None
    pixels_per_token: int | None = None
    resize: Literal["bilinear", "nearest"] = "bilinear"
    diffusion: bool = False  # may use the DiVAE diffusion decoder
    defaults: dict[str, Any] = field(default_factory=dict)  # VQVAEConfig defaults

    def ppt(self, spec: Any) -> int:
        return self.pixels_per_token or spec.tokenizer.patch_size

    def input_size(self, spec: Any) -> int:
        """Training resolution of the network input for the spec's image size."""
        return spec.tokenizer.image_size * self.ppt(spec) // spec.tokenizer.patch_size

    def config(self, spec: Any, **overrides: Any) -> VQVAEConfig:
        data = {
            "modality": spec.name, "in_channels": self.in_channels,
            "out_channels": self.out_channels or self.in_channels,
            "vocab_size": spec.tokenizer.vocab_size, "pixels_per_token": self.ppt(spec),
            "loss": self.loss, "image_size": self.input_size(spec), **self.defaults, **overrides,
        }
        if data.get("decoder") == "diffusion" and not self.diffusion:
            raise FourmError(f"Modality {spec.name!r} does not offer a diffusion decoder.")
        try:
            return VQVAEConfig.model_validate(data)
        except Exception as exc:
            raise FourmError(f"Invalid VQ tokenizer settings for modality {spec.name!r}: {exc}") from exc
