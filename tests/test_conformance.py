"""The conformance kit over every registered modality: built-ins and installed plugins alike."""
from __future__ import annotations

import numpy as np
import pytest

from fourm_registry import MaskingSpec, ModalityKind, ModalitySpec, Registry, TokenizerSpec, hookimpl
from fourm_registry.codecs import json_codec
from fourm_registry.testing import CHECKS, ConformanceSkip, check_codec, check_modality, generic_distance

REGISTRY = Registry.build()  # what `fourm` itself sees (FOURM_LOAD_PLUGINS applies)
NAMES = REGISTRY.list_modalities()


@pytest.fixture(scope="module")
def registry() -> Registry:
    return REGISTRY


@pytest.mark.slow
@pytest.mark.parametrize("check", list(CHECKS))
@pytest.mark.parametrize("name", NAMES)
def test_every_modality_conforms(registry, name, check):
    try:
        CHECKS[check](registry, name)
    except ConformanceSkip as exc:
        spec = registry.get_modality(name)
        # Only these may be skipped: tokenizers of input-only kinds, and missing pictures.
        assert (check == "tokenizer" and spec.input_only) or (check == "draw" and spec.draw is None), str(exc)
        pytest.skip(str(exc))


def test_generic_distance():
    assert generic_distance({"a": [1, 2.5]}, {"a": [1, 2.0]}) == 0.5
    assert generic_distance([1, 2], [1, 2, 3]) == float("inf")
    assert generic_distance("x", "y") == float("inf")
    assert generic_distance(np.zeros((2, 2)), np.zeros((2, 3))) == float("inf")


class _Broken:
    """A plugin whose codec loses data: the kit must catch it."""

    __name__ = "broken_codec"

    @hookimpl
    def register_modalities(self, register):
        codec = json_codec()
        register(ModalitySpec(
            name="lossy", kind=ModalityKind.SEQUENCE, to_text=str, from_text=str,
            tokenizer=TokenizerSpec(vocab_size=30000, max_length=8), masking=MaskingSpec(rule="span"),
            codec=codec.model_copy(update={"decode": lambda b: codec.decode(b)[:1]}),
            extras={"examples": lambda spec, rng: [[1, 2, 3]]}))


def test_the_kit_catches_a_broken_codec_and_skips_what_does_not_apply():
    reg = Registry.build(_Broken(), allow=[])
    with pytest.raises(AssertionError, match="lossy: codec round trip"):
        check_codec(reg, "lossy")
    report = check_modality(reg, "lossy", ["declaration", "tokenizer", "draw"])
    assert report["declaration"] == "ok"
    assert report["tokenizer"].startswith("skipped") and report["draw"].startswith("skipped")
