"""fourm's core: the plugin contract, the registry and the machinery assembled from it.

The core knows no modality by name; everything modality-specific comes from plugins.
"""
from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

from .config import ConfigError, ModalityOverride, ModalitySelection, StrictModel, load_config
from .errors import FourmError, PluginError, UnknownNameError
from .hookspecs import hookimpl
from .registry import Registry, get_registry
from .shards import ReadStats, read_samples
from .codecs import image_codec, json_codec, npy_codec, text_codec
from .tokenizers import (TEXT_TOKENS_KEY, DenseAdapter, DenseTokenizerFactory, SequenceTokenizer, TextTokenizer,
                         VectorTokenizerFactory, VectorVQConfig, VQVAEConfig, sequence_tokenizer_factory)
from .spec import (
    Codec,
    Labeler,
    LabelerSpec,
    MaskingSpec,
    ModalityKind,
    ModalitySpec,
    ModalityTokenizer,
    Objective,
    TokenizerSpec,
)

try:
    __version__ = version("fourm")
except PackageNotFoundError:  # running from a source tree without installing
    __version__ = "0.0.0"

__all__ = [
    "Codec", "ConfigError", "FourmError", "Labeler", "LabelerSpec", "MaskingSpec",
    "ModalityKind", "ModalityOverride", "ModalitySelection", "ModalitySpec", "ModalityTokenizer",
    "Objective", "PluginError", "ReadStats", "Registry", "StrictModel", "TokenizerSpec",
    "UnknownNameError", "get_registry", "hookimpl", "load_config", "read_samples", "__version__",
    # the plugin author's toolkit: codecs and the generic tokenizers (README "Writing a plugin")
    "DenseAdapter", "DenseTokenizerFactory", "SequenceTokenizer", "TEXT_TOKENS_KEY", "TextTokenizer",
    "VQVAEConfig", "VectorTokenizerFactory", "VectorVQConfig", "image_codec", "json_codec", "npy_codec",
    "sequence_tokenizer_factory", "text_codec",
]
