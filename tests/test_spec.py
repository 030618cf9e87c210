"""The modality contract: every built-in validates; malformed declarations are rejected."""
from __future__ import annotations

import pytest
from pydantic import ValidationError

from fourm_registry import MaskingSpec, ModalityKind, ModalitySpec, TokenizerSpec
from fourm_registry.codecs import npy_codec, text_codec

BUILTINS = ["rgb", "depth", "normal", "semseg", "det", "caption", "clip", "rgb_pixels"]


def dense(**kw) -> ModalitySpec:
    args = dict(name="thermal", kind=ModalityKind.DENSE,
                tokenizer=TokenizerSpec(vocab_size=64, image_size=32, patch_size=8),
                masking=MaskingSpec(rule="uniform"), codec=npy_codec(ndim=2))
    args.update(kw)
    return ModalitySpec(**args)


def test_builtins_are_the_4m_modalities(registry):
    assert registry.list_modalities() == sorted(BUILTINS)


@pytest.mark.parametrize("name", BUILTINS)
def test_every_builtin_declaration_revalidates(registry, name):
    spec = registry.get_modality(name)
    again = ModalitySpec.model_validate(dict(spec))
    assert again.name == name and again.num_tokens == spec.num_tokens
    assert spec.num_tokens == (196 if spec.kind.is_grid else 256)


def test_grid_derivation():
    spec = dense()
    assert spec.tokenizer.grid == (4, 4) and spec.num_tokens == 16
    assert spec.token_key == "tok_thermal"


@pytest.mark.parametrize("bad, needle", [
    (dict(name="Thermal"), "lowercase"),
    (dict(name="tok_x"), "reserved"),
    (dict(tokenizer=TokenizerSpec(vocab_size=64, max_length=8)), "image_size and patch_size"),
    (dict(masking=MaskingSpec(rule="span")), "masking.rule='uniform'"),
    (dict(masking=MaskingSpec(rule="uniform", max_tokens=17)), "max_tokens 17 > 16"),
])
def test_malformed_declarations_are_rejected(bad, needle):
    with pytest.raises(ValidationError, match=needle):
        dense(**bad)


def test_sizes_must_fit():
    with pytest.raises(ValidationError, match="not a multiple of patch_size"):
        TokenizerSpec(vocab_size=8, image_size=30, patch_size=8)


def test_sequence_needs_text_functions():
    with pytest.raises(ValidationError, match="to_text and from_text"):
        ModalitySpec(name="notes", kind=ModalityKind.SEQUENCE,
                     tokenizer=TokenizerSpec(vocab_size=100, max_length=16),
                     masking=MaskingSpec(rule="span"), codec=text_codec())


def test_missing_parts_raise_a_clear_not_implemented():
    spec = dense()
    assert not spec.has_tokenizer
    with pytest.raises(NotImplementedError, match="tokenizer of modality 'thermal'.*area: tokenizers"):
        spec.create_tokenizer()
    with pytest.raises(NotImplementedError, match="pseudo-labeler of modality 'thermal'"):
        spec.create_labeler()


def test_with_overrides_revalidates():
    spec = dense().with_overrides(image_size=64, alpha=0.5)
    assert spec.num_tokens == 64 and spec.masking.alpha == 0.5
    with pytest.raises(ValidationError, match="not a multiple"):
        dense().with_overrides(image_size=60)


def test_specs_are_frozen():
    spec = dense()
    with pytest.raises(ValidationError):
        spec.name = "other"
