"""A conformance kit every modality plugin runs on its modalities (and the core on all of them).

In the spirit of timm's forward test over every registered model and transformers'
``ModelTesterMixin``: given a registry and a modality name, each ``check_*`` asserts one
property of the plugin's declaration and raises ``AssertionError`` naming the modality, or
:class:`ConformanceSkip` when the property does not apply (e.g. no tokenizer for an
input-only kind). Plugins opt into the value-based checks with keys of ``spec.extras``:

- ``examples``: ``fn(spec, rng) -> list`` of raw values (as the codec decodes them), at the
  spec's resolution. Without it, values come from decoding random token ids (grid kinds),
  random text (sequences) or random vectors (input-only kinds).
- ``roundtrip_tolerance``: largest ``distance(value, decode(encode(value)))`` the tokenizer
  may show (serialisations are near-lossless; learned VQ tokenizers declare none).
- ``distance``: ``fn(a, b) -> float`` used for that; default :func:`generic_distance`.

Use it from pytest with :class:`ModalityConformance` or call :func:`check_modality`;
:func:`check_train_and_generate` trains a tiny model on many modalities and generates each.
"""
from __future__ import annotations

from .checks import (CHECKS, ModalityConformance, check_codec, check_declaration, check_draw, check_masking,
                     check_modality, check_model, check_tokenizer)
from .e2e import check_train_and_generate, shrunk
from .values import (DISTANCE_KEY, EXAMPLES_KEY, TOLERANCE_KEY, ConformanceSkip, distance, example_values,
                     generic_distance, prepared, small_tokenizer, value_spec)

__all__ = [
    "CHECKS", "DISTANCE_KEY", "EXAMPLES_KEY", "TOLERANCE_KEY", "ConformanceSkip", "ModalityConformance",
    "check_codec", "check_declaration", "check_draw", "check_masking", "check_modality", "check_model",
    "check_tokenizer", "check_train_and_generate", "distance", "example_values", "generic_distance",
    "prepared", "shrunk", "small_tokenizer", "value_spec",
]
