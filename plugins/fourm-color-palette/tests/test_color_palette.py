"""The colour palette plugin: declaration, serialisation, k-means labeler, conformance kit."""
from __future__ import annotations

import numpy as np
import pytest

from fourm_color_palette.spec import SPEC, check_palette, from_text, to_text
from fourm_registry import Registry
from fourm_registry.testing import ModalityConformance, check_train_and_generate


class TestColorPaletteConformance(ModalityConformance):
    modalities = ("color_palette",)
    allow = ("color_palette",)


def test_installed_entry_point_registers_it():
    reg = Registry.build(allow=["color_palette"])
    assert reg.provider("color_palette") == "color_palette"
    assert reg.get_modality("color_palette").tokenizer.shared == "text"


def test_text_is_count_then_rgb_triples():
    assert to_text([[255, 0, 0], [0, 10, 200]]) == "v1=2 v0=255 v0=0 v0=0 v0=0 v0=10 v0=200"
    assert from_text("v1=2 v0=255 v0=0 v0=0 v0=0 v0=10 v0=200") == [[255, 0, 0], [0, 10, 200]]


def test_generated_text_is_parsed_leniently():
    # a stray word, an incomplete trailing colour and the declared count are all honoured
    assert from_text("v1=1 v0=1 red v0=2 v0=3 v0=4 v0=5") == [[1, 2, 3]]
    assert from_text("nothing useful") == []


@pytest.mark.parametrize("bad", [[], [[0, 0]], [[0, 0, 256]], [[1, 2, 3]] * 8, "red"])
def test_invalid_palettes_are_rejected(bad):
    with pytest.raises(ValueError):
        check_palette(bad)
    with pytest.raises(ValueError):
        SPEC.codec.encode(bad)


def test_kmeans_labeler_finds_the_colours_by_area():
    img = np.zeros((90, 60, 3), np.uint8)
    img[:50] = (250, 10, 10)
    img[50:80] = (10, 10, 240)
    img[80:] = (20, 200, 30)
    assert SPEC.create_labeler()([img]) == [[[250, 10, 10], [10, 10, 240], [20, 200, 30]]]
    plain = np.full((32, 32, 3), 77, np.uint8)
    assert SPEC.create_labeler()([plain]) == [[[77, 77, 77]]]


def test_labeler_on_a_real_photo_gives_one_to_seven_colours():
    from skimage import data

    (palette,) = SPEC.create_labeler()([data.astronaut()])
    assert 1 <= len(palette) <= 7
    assert from_text(to_text(palette)) == palette


def test_a_model_with_the_core_and_these_modalities_trains_and_generates_each():
    reg = Registry.build(allow=["color_palette"])
    mine = list(("color_palette",))
    core = sorted(Registry.build(allow=[]).modalities)
    generated = check_train_and_generate(reg, core + mine)
    assert {n for n in mine if not reg.get_modality(n).input_only} <= set(generated)
