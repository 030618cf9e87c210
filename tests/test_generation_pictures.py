"""Pictures for ``fourm generate``: plugin draws, overlay backgrounds, legends, grids."""
from __future__ import annotations

import numpy as np
from PIL import Image

from fourm_registry.generation.pictures import draw_value, make_grid, pick_background, takes_background


def test_overlay_draw_uses_declared_background(registry):
    det, rgb = registry.get_modality("det"), registry.get_modality("rgb")
    assert takes_background(det.draw) and not takes_background(rgb.draw)
    photo = draw_value(rgb, np.full((32, 48, 3), 200, dtype=np.uint8))
    pics = {"depth": Image.new("RGB", (8, 8)), "rgb": photo}
    assert pick_background(det, pics, ["depth", "rgb"]) is photo  # extras["draw_background"]
    boxes = det.from_text("v0=0 v1=0 v2=499 v3=499 dog")
    on_photo = draw_value(det, boxes, background=photo)
    assert on_photo.size == (336, 224)  # enlarged 7× so labels stay legible, aspect kept
    px = np.asarray(on_photo)
    assert (px[-5, -5] == 200).all() and not (px[1, 100] == 200).all()  # photo kept, box drawn
    assert draw_value(det, boxes).size == (224, 224)


def test_semseg_legend_lists_the_largest_classes(registry):
    seg = np.zeros((32, 32), dtype=np.uint8)
    seg[:, 20:] = 18  # class 18: "sheep" in COCO panoptic order
    img = draw_value(registry.get_modality("semseg"), seg)
    assert img.height == 224 and img.width > 224  # enlarged map + legend column
    legend = np.asarray(img)[:, 224:]
    assert (legend < 250).any()


def test_grid_puts_titled_tiles_side_by_side(registry):
    tiles = [("a", Image.new("RGB", (32, 32), "red")), ("b", Image.new("RGB", (64, 32), "blue"))]
    grid = make_grid(tiles, height=100, gap=4)
    assert grid.size == (100 + 200 + 4, 116)
    assert tuple(np.asarray(grid)[60, 250]) == (0, 0, 255)


def test_semseg_legend_uses_class_names_the_run_declares(registry):
    seg = np.zeros((32, 32), dtype=np.uint8)
    seg[:, 20:] = 1
    coco = np.asarray(draw_value(registry.get_modality("semseg"), seg))
    named = registry.with_overrides({"semseg": {"extras": {"class_names": ["sky", "road"]}}})
    own = np.asarray(draw_value(named.get_modality("semseg"), seg))
    assert (coco[:, :224] == own[:, :224]).all()  # the same map and colours
    assert not (coco[:, 224:] == own[:, 224:]).all()  # other names in the legend


def test_boxes_with_labels_outside_coco_get_a_stable_visible_colour(registry):
    det = registry.get_modality("det")
    pics = [np.asarray(draw_value(det, det.from_text(f"v0=100 v1=100 v2=400 v3=400 {name}")))
            for name in ("sphere", "sphere", "cylinder")]
    assert (pics[0] == pics[1]).all() and not (pics[0] == pics[2]).all()
    brightness = pics[0].reshape(-1, 3).astype(int).sum(axis=1)
    coloured, dark = ((brightness > 120) & (brightness < 700)).sum(), (brightness <= 120).sum()
    assert coloured > 3 * dark  # a coloured box and label patch, not a near-black one
