"""The metadata plugin: field binning, shuffled key/value text, statistics labeler, conformance."""
from __future__ import annotations

import random

import numpy as np
import pytest

from fourm_metadata.fields import FIELDS
from fourm_metadata.labeler import image_statistics, sample_counts
from fourm_metadata.spec import SPEC, check_metadata, from_text, to_text
from fourm_registry import Registry
from fourm_registry.testing import ModalityConformance, check_train_and_generate


class TestMetadataConformance(ModalityConformance):
    modalities = ("metadata",)
    allow = ("metadata",)


def test_pairs_are_field_id_then_bin():
    random.seed(0)
    text = to_text({"original_width": 640, "brightness": 255.0, "n_humans": 3})
    pairs = set(zip(text.split()[::2], text.split()[1::2]))
    assert pairs == {("v1=0", "v0=20"), ("v1=10", "v0=49"), ("v1=5", "v0=3")}
    assert from_text(text) == {"original_width": 656.0, "brightness": 255.0, "n_humans": 3.0}


def test_order_is_shuffled_but_content_kept():
    value = {name: 1 for name in FIELDS}
    orders = {tuple(to_text(value).split()[::2]) for _ in range(5)}
    assert len(orders) > 1
    assert all(from_text(to_text(value)).keys() == value.keys() for _ in range(3))
    assert len(to_text(value).split()) <= SPEC.tokenizer.max_length


@pytest.mark.parametrize("name", list(FIELDS))
def test_every_bin_decodes_inside_itself(name):
    f = FIELDS[name]
    for b in range(0, f.max_bin + 1, max(1, f.max_bin // 7)):
        assert f.to_bin(f.from_bin(b)) == b


def test_bad_values_are_rejected():
    with pytest.raises(ValueError, match="unknown metadata field"):
        check_metadata({"height_in_feet": 3})
    with pytest.raises(ValueError, match="finite"):
        check_metadata({"brightness": float("nan")})


def test_statistics_of_known_images():
    black = image_statistics(np.zeros((30, 40, 3), np.uint8))
    assert black["original_width"] == 40 and black["original_height"] == 30
    assert black["brightness"] == 0 and black["contrast"] == 0 and black["entropy"] == 0
    half = np.zeros((10, 10, 3), np.uint8)
    half[:5] = 255
    stats = image_statistics(half)
    assert stats["entropy"] == pytest.approx(1.0) and stats["brightness"] == pytest.approx(127.5)
    red = image_statistics(np.tile(np.array([255, 0, 0], np.uint8), (8, 8, 1)))
    assert red["saturation"] == 255 and red["colorfulness"] == pytest.approx(0.3 * np.hypot(255, 127.5))


def test_labeler_and_sample_counts():
    from skimage import data

    lab = SPEC.create_labeler()
    (meta,) = lab([data.astronaut()])
    assert meta["original_width"] == 512 and 0 < meta["brightness"] < 255
    sample = {"rgb": data.astronaut(), "caption": "An astronaut. She smiles!",
              "det": [{"label": "person"}, {"label": "flag"}, {"label": "person"}]}
    (full,) = lab.label_samples([sample])
    assert full["caption_n_words"] == 4 and full["caption_n_sentences"] == 2
    assert full["n_coco_instances"] == 3 and full["coco_instance_diversity"] == 2
    assert sample_counts({}) == {}
    assert check_metadata(full) == full


def test_a_model_with_the_core_and_these_modalities_trains_and_generates_each():
    reg = Registry.build(allow=["metadata"])
    mine = list(("metadata",))
    core = sorted(Registry.build(allow=[]).modalities)
    generated = check_train_and_generate(reg, core + mine)
    assert {n for n in mine if not reg.get_modality(n).input_only} <= set(generated)


def test_span_masking_keeps_or_hides_whole_key_value_pairs():
    from fourm_registry.masking import Masker, MaskingConfig
    from fourm_registry.tokens import COORD_BASE, COORD_BINS, EOS_ID, is_sentinel

    from fourm_metadata.spec import key_value_chunks

    keys = [COORD_BASE + COORD_BINS + f for f in (3, 7, 11, 2)]
    ids = [t for k in keys for t in (k, COORD_BASE + 40 + k % 50)]
    assert key_value_chunks(ids) == [2, 2, 2, 2]
    masker = Masker(MaskingConfig(input_tokens=5, target_tokens=20), [SPEC])
    rng = np.random.default_rng(0)
    seen_partial = 0
    for _ in range(50):
        m = masker({"metadata": np.asarray(ids)}, rng)["metadata"]
        pieces = [t for t in m.inputs.tolist() if not is_sentinel(t) and t != EOS_ID]
        for j, t in enumerate(pieces):  # every kept key is followed by its value, every value follows its key
            if t in keys:
                assert pieces[j + 1] == ids[ids.index(t) + 1]
            else:
                assert j > 0 and pieces[j - 1] == ids[ids.index(t) - 1]
        seen_partial += 0 < len(pieces) < len(ids)
    assert seen_partial > 0  # masks are partial, not all-or-nothing
