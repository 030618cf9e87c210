"""The MLP vector quantiser now lives in the core toolkit (:mod:`fourm_registry.tokenizers.vector`);
these names stay importable from here for plugins written against the old place."""
from __future__ import annotations

from fourm_registry.tokenizers.vector import (CONFIG_FILE, WEIGHTS_FILE, VectorTokenizer, VectorTokenizerFactory,
                                              VectorVQConfig)
from fourm_registry.tokenizers.vector_model import VectorVQ

__all__ = ["CONFIG_FILE", "WEIGHTS_FILE", "VectorTokenizer", "VectorTokenizerFactory", "VectorVQ", "VectorVQConfig"]
