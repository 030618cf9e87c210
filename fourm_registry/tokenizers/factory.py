"""``TokenizerSpec.factory`` for grid modalities: a :class:`DenseAdapter` plus the generic VQ-VAE.

Models (and torch) are imported only when a tokenizer is built, so declaring a plugin stays cheap.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..errors import FourmError
from .adapter import DenseAdapter

if TYPE_CHECKING:
    from .dense import DenseTokenizer


class DenseTokenizerFactory:
    """``TokenizerSpec.factory`` for grid modalities: ``factory(spec, path)``.

    ``adapter`` is a :class:`DenseAdapter` or a callable ``spec -> DenseAdapter`` (when the
    channel count depends on the spec, e.g. a number of classes in ``spec.extras``).
    """

    def __init__(self, adapter: DenseAdapter | Callable[[Any], DenseAdapter]):
        self._adapter = adapter

    def adapter(self, spec: Any) -> DenseAdapter:
        return self._adapter if isinstance(self._adapter, DenseAdapter) else self._adapter(spec)

    def fresh(self, spec: Any, **overrides: Any) -> DenseTokenizer:
        """A randomly initialised tokenizer; ``overrides`` change :class:`VQVAEConfig` fields."""
        from .dense import DenseTokenizer
        from .vqvae import VQVAE

        adapter = self.adapter(spec)
        return DenseTokenizer(spec, adapter, VQVAE(adapter.config(spec, **overrides)))

    def __call__(self, spec: Any, path: str | Path | None = None) -> DenseTokenizer:
        if path is None:
            return self.fresh(spec)
        from .dense import DenseTokenizer
        from .vqvae import VQVAE

        released = _released_model(spec, path, vector=False)
        if released is not None:
            adapter = self.adapter(spec)
            if not released.use_channels(adapter.in_channels):
                raise FourmError(f"Modality {spec.name!r}: the released tokenizer {path} takes "
                                 f"{released.config.in_channels} channels, the modality gives "
                                 f"{adapter.in_channels}.")
            released.loss = adapter.loss  # what further training optimises
            return DenseTokenizer(spec, adapter, released)
        model = VQVAE.from_pretrained(path)
        saved = model.config
        if saved.modality and saved.modality != spec.name:
            raise FourmError(f"{path} holds a tokenizer for {saved.modality!r}, not {spec.name!r}.")
        if saved.vocab_size > spec.tokenizer.vocab_size:
            raise FourmError(
                f"Modality {spec.name!r}: the tokenizer at {path} has {saved.vocab_size} codes but "
                f"the modality's vocab_size is {spec.tokenizer.vocab_size}; raise vocab_size.")
        adapter = self.adapter(spec)
        if saved.in_channels != adapter.in_channels:
            raise FourmError(f"Modality {spec.name!r}: the tokenizer at {path} takes "
                             f"{saved.in_channels} channels, the modality gives {adapter.in_channels}.")
        return DenseTokenizer(spec, adapter, model)


def _released_model(spec: Any, path: str | Path, vector: bool) -> Any:
    """A released 4M tokenizer (ml-4m layout directory or hub id) for ``spec``, else ``None``."""
    from ..interop.ml4m.adapters import released_model_for  # lazy: torch
    from ..interop.ml4m.tokenizers import is_released_source

    return released_model_for(spec, path, vector=vector) if is_released_source(path) else None
