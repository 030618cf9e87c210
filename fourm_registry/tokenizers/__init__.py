"""Tokenizers: the shared WordPiece text vocabulary, VQ-VAE / DiVAE for grid modalities.

A tokenizers directory holds one sub-directory per modality (``config.json`` +
``model.safetensors`` for VQ tokenizers) and one per shared sequence vocabulary
(``tokenizer.json`` + the ``transformers`` files), named after ``TokenizerSpec.shared``.
Nothing here imports torch until a VQ tokenizer is built.
"""
from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

from ..errors import FourmError
from .adapter import BadValueError, DenseAdapter
from .factory import DenseTokenizerFactory
from .sequence import TEXT_TOKENS_KEY, SequenceTokenizer, sequence_tokenizer_factory
from .text import TextTokenizer
from .vector import VectorTokenizer, VectorTokenizerFactory, VectorVQConfig
from .vqconfig import VQVAEConfig

_MARKERS = ("config.json", "tokenizer.json")


def tokenizer_subdir(spec: Any) -> str:
    """The directory name of ``spec``'s tokenizer inside a tokenizers directory."""
    return spec.tokenizer.shared or spec.name


def saved_tokenizer_path(root: str | Path, spec: Any) -> Path | None:
    """``root/<name>`` if it holds a saved tokenizer for ``spec``, else ``None``."""
    path = Path(root) / tokenizer_subdir(spec)
    return path if any((path / m).is_file() for m in _MARKERS) else None


def load_tokenizers(root: str | Path | None, registry: Any, names: Iterable[str] | None = None,
                    sources: dict[str, str] | None = None) -> dict[str, Any]:
    """``{modality: tokenizer}`` for the tokenizers saved under ``root``.

    ``sources`` (``--tokenizer MOD=SOURCE``) names a tokenizer directory or hub id per modality
    and wins over ``root``. Without ``names``, modalities with no saved tokenizer are skipped;
    a modality named explicitly must have one (else :class:`FourmError`).
    """
    sources = dict(sources or {})
    for name in sources:
        registry.get_modality(name)
    base = Path(root) if root is not None else None
    if base is not None and not base.is_dir():
        raise FourmError(f"Tokenizers directory {base} does not exist.")
    if base is None and not sources:
        raise FourmError("No tokenizers given: pass --tokenizers DIR or --tokenizer MODALITY=SOURCE.")
    explicit = names is not None
    specs = registry.select(names) if explicit else [registry.get_modality(n) for n in registry.list_modalities()]
    out: dict[str, Any] = {}
    for spec in specs:
        if spec.name in sources and spec.has_tokenizer:
            out[spec.name] = spec.create_tokenizer(sources[spec.name])
            continue
        path = saved_tokenizer_path(base, spec) if base is not None else None
        if path is None or not spec.has_tokenizer:
            if explicit:
                where = base / tokenizer_subdir(spec) if base is not None else "--tokenizer"
                why = "declares no tokenizer" if not spec.has_tokenizer else f"has no saved tokenizer in {where}"
                raise FourmError(f"Modality {spec.name!r} {why}.")
            continue
        out[spec.name] = spec.create_tokenizer(path)
    return out


__all__ = [
    "BadValueError", "DenseAdapter", "DenseTokenizerFactory", "SequenceTokenizer", "TEXT_TOKENS_KEY",
    "TextTokenizer", "VQVAEConfig", "VectorTokenizer", "VectorTokenizerFactory", "VectorVQConfig",
    "load_tokenizers", "saved_tokenizer_path", "sequence_tokenizer_factory", "tokenizer_subdir",
]
