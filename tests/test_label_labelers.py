"""Each built-in labeler, loaded with from_pretrained from a tiny randomly initialised local checkpoint."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from fourm_modalities.det import Detections
from fourm_modalities.labelers.depth_dpt import disparity_to_depth, square_side
from fourm_modalities.labelers.tiny import save_tiny
from fourm_registry import FourmError, Registry


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return {kind: save_tiny(kind, root / kind) for kind in ("depth", "normal_head", "semseg", "det", "clip")}


@pytest.fixture(scope="module")
def reg() -> Registry:
    return Registry.build(allow=[])


@pytest.fixture(scope="module")
def images() -> list[np.ndarray]:
    rng = np.random.default_rng(0)  # two sizes in one batch: labelers must keep each image's H×W
    return [rng.integers(0, 255, (48, 64, 3), dtype=np.uint8),
            rng.integers(0, 255, (64, 40, 3), dtype=np.uint8),
            rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)]


def _label(reg: Registry, modality: str, model: Path, images: list[np.ndarray]) -> list:
    labeler = reg.get_modality(modality).create_labeler(str(model), "cpu")
    values = labeler(images)
    assert len(values) == len(images)
    return values


def test_every_builtin_labeler_names_a_default_hub_model(reg: Registry) -> None:
    for name in ("depth", "normal", "semseg", "det", "clip"):
        lab = reg.get_modality(name).labeler
        assert lab is not None and lab.modality == name and "/" in (lab.default_model or "")
    assert reg.get_modality("semseg").labeler.default_model == "facebook/mask2former-swin-base-coco-panoptic"


def test_depth_labeler_writes_positive_relative_depth(reg, models, images) -> None:
    values = _label(reg, "depth", models["depth"], images)
    for img, d in zip(images, values):
        assert d.shape == img.shape[:2] and d.dtype == np.float32
        assert np.isfinite(d).all() and (d > 0).all()
        assert np.median(d) == pytest.approx(1.0, rel=1e-3)
    raw = reg.get_modality("depth").codec.encode(values[0])
    assert np.array_equal(reg.get_modality("depth").codec.decode(raw), values[0])


def test_depth_resize_rule_and_disparity_conversion() -> None:
    assert square_side(480, 640) == 640 and square_side(375, 500) == 512
    assert square_side(1000, 2000) == 768 and square_side(10, 12) == 32
    disp = np.array([[4.0, 2.0], [1.0, 0.0]])
    depth = disparity_to_depth(disp)
    assert depth[0, 0] < depth[0, 1] < depth[1, 0] < depth[1, 1]  # far = small disparity = large depth
    assert np.isfinite(depth).all()


@pytest.mark.parametrize("kind,mode", [("depth", "depth"), ("normal_head", "head")])
def test_normal_labeler_both_paths_give_unit_vectors(reg, models, images, kind, mode) -> None:
    labeler = reg.get_modality("normal").create_labeler(str(models[kind]), "cpu")
    assert labeler.mode == mode
    for img, n in zip(images, labeler(images)):
        assert n.shape == (*img.shape[:2], 3) and n.dtype == np.float32
        assert np.allclose(np.linalg.norm(n, axis=-1), 1.0, atol=1e-4)


def test_semseg_labeler_gives_class_ids(reg, models, images) -> None:
    values = _label(reg, "semseg", models["semseg"], images)
    for img, s in zip(images, values):
        assert s.shape == img.shape[:2] and s.dtype == np.uint8 and s.max() < 133
    codec = reg.get_modality("semseg").codec
    assert np.array_equal(codec.decode(codec.encode(values[1])), values[1])


def test_det_labeler_drops_low_scores_and_returns_pixel_boxes(reg, models, images) -> None:
    from fourm_modalities.labelers.det_detector import DetectorLabeler

    default = _label(reg, "det", models["det"], images)
    lax = DetectorLabeler(str(models["det"]), "cpu", threshold=0.0)(images)
    for img, dets, all_dets in zip(images, default, lax):
        h, w = img.shape[:2]
        assert isinstance(dets, Detections) and dets.image_size == (w, h)
        assert all(d["score"] >= 0.6 for d in dets)
        assert len(all_dets) > len(dets)  # random weights score low: the 0.6 cut removes them
        for d in all_dets:
            x0, y0, x1, y1 = d["box"]
            assert 0 <= x0 <= x1 <= w and 0 <= y0 <= y1 <= h
            assert d["label"] in {"person", "car", "dog", "cat", "chair"}
        assert [d["score"] for d in all_dets] == sorted((d["score"] for d in all_dets), reverse=True)
    codec = reg.get_modality("det").codec
    back = codec.decode(codec.encode(lax[0]))
    assert back == list(lax[0]) and tuple(back.image_size) == lax[0].image_size


def test_clip_labeler_gives_a_feature_grid(reg, models, images) -> None:
    values = _label(reg, "clip", models["clip"], images)
    for f in values:
        assert f.shape == (4, 4, 32) and f.dtype == np.float32  # 64 px / 16 px patches, width 32
    assert not np.allclose(values[0], values[2])
    picture = reg.get_modality("clip").draw(values[0])
    assert picture.size == (4, 4) and picture.mode == "RGB"


def test_missing_local_model_is_a_clear_user_error(reg, tmp_path) -> None:
    with pytest.raises(FourmError, match="does not exist"):
        reg.get_modality("depth").create_labeler(str(tmp_path / "nope"), "cpu")


@pytest.mark.gpu
@pytest.mark.skipif(not __import__("torch").cuda.is_available(), reason="needs a CUDA device")
def test_labelers_run_in_half_precision_on_gpu(reg, models, images) -> None:
    import torch

    for modality, kind in (("depth", "depth"), ("semseg", "semseg"), ("clip", "clip")):
        labeler = reg.get_modality(modality).create_labeler(str(models[kind]), "cuda")
        assert next(labeler.model.parameters()).dtype in (torch.bfloat16, torch.float16)
        for img, value in zip(images, labeler(images)):
            assert np.isfinite(value).all() and value.shape[:2] == (
                (4, 4) if modality == "clip" else img.shape[:2])
