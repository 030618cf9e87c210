"""The Canny edge plugin: scikit-image labeler, edge codec and VQ adapter, conformance kit."""
from __future__ import annotations

import numpy as np

from fourm_4m21_common.edges import edges_in, edges_out
from fourm_canny_edge import SPEC, CannyLabeler
from fourm_registry import Registry
from fourm_registry.testing import ModalityConformance, check_train_and_generate


class TestCannyConformance(ModalityConformance):
    modalities = ("canny_edge",)
    allow = ("canny_edge",)


def test_edges_lie_on_the_square_outline():
    img = np.zeros((64, 64, 3), np.uint8)
    img[16:48, 16:48] = 255
    (edges,) = CannyLabeler(sigma=1.0)([img])
    assert edges.dtype == np.uint8 and set(np.unique(edges)) == {0, 255}
    ys, xs = np.nonzero(edges)
    assert ys.min() >= 14 and ys.max() <= 49 and xs.min() >= 14 and xs.max() <= 49
    assert edges[30:34, 30:34].max() == 0  # nothing inside the flat square


def test_labeler_on_a_real_photo_and_codec_round_trip():
    from skimage import data

    (edges,) = SPEC.create_labeler()([data.camera()])  # grey photo: repeated to RGB
    assert edges.shape == (512, 512) and 0.01 < (edges > 0).mean() < 0.3
    assert np.array_equal(SPEC.codec.decode(SPEC.codec.encode(edges)), edges)


def test_vq_adapter_maps_edges_to_plus_minus_one_and_back():
    e = np.zeros((16, 16), np.uint8)
    e[3, :] = 255
    x = edges_in(e)
    assert x.shape == (1, 16, 16) and set(np.unique(x)) == {-1.0, 1.0}
    assert np.array_equal(edges_out(x), e)
    assert np.array_equal(edges_in(e > 0), x)


def test_a_model_with_the_core_and_these_modalities_trains_and_generates_each():
    reg = Registry.build(allow=["canny_edge"])
    mine = list(("canny_edge",))
    core = sorted(Registry.build(allow=[]).modalities)
    generated = check_train_and_generate(reg, core + mine)
    assert {n for n in mine if not reg.get_modality(n).input_only} <= set(generated)
