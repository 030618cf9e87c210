"""The synthetic dataset: exact, mutually consistent ground truth; deterministic, resumable shards."""
from __future__ import annotations

import json

import numpy as np
import pytest
from scipy.ndimage import maximum_filter, minimum_filter

from fourm_cli.app import build_app
from fourm_modalities.labelers.geometry import normals_from_depth
from fourm_synth.generate import SynthSettings, generate
from fourm_synth.render import render
from fourm_synth.scene import CLASSES, FLOOR_TONES, camera_basis, floor_radiance, floor_tone, sample_scene
from fourm_registry import FourmError, read_samples

SIZE = 96


@pytest.fixture(scope="module")
def rendered() -> list[tuple]:
    scenes = [sample_scene(np.random.default_rng([7, i])) for i in range(3)]
    return [(sc, render(sc, size=SIZE, spp=4, seed=i)) for i, sc in enumerate(scenes)]


def _planar_interior(sample: dict) -> np.ndarray:
    """Pixels whose 5×5 neighbourhood is one instance with one rendered normal: plane interiors."""
    inst = sample["instances"]
    same_inst = (maximum_filter(inst, 5) == minimum_filter(inst, 5)) & (inst > -2)
    flat = np.ones(inst.shape, bool)
    for c in range(3):
        n = sample["normal"][..., c]
        flat &= (maximum_filter(n, 5) - minimum_filter(n, 5)) < 1e-4
    return same_inst & flat


def test_normals_from_depth_match_rendered_normals_on_planes(rendered) -> None:
    """Tolerance: on plane interiors (floor, cube faces, caps) finite-difference normals of the
    z-depth agree with the renderer's within 1° everywhere and 0.1° on average."""
    for scene, s in rendered:
        mask = _planar_interior(s)
        assert mask.sum() > 0.5 * mask.size
        fd = normals_from_depth(s["depth"], **s["camera"])
        angle = np.degrees(np.arccos(np.clip(np.sum(fd * s["normal"], -1), -1, 1)))[mask]
        assert angle.max() < 1.0 and angle.mean() < 0.1


def test_floor_depth_is_z_depth_of_the_ray_through_each_pixel_centre(rendered) -> None:
    for scene, s in rendered:
        cam = s["camera"]
        right, down, fwd = camera_basis(scene)
        v, u = np.mgrid[0:SIZE, 0:SIZE].astype(float)
        rays = (right * ((u - cam["cx"]) / cam["fx"])[..., None]
                + down * ((v - cam["cy"]) / cam["fy"])[..., None] + fwd)
        t = -scene.origin[1] / rays[..., 1]  # floor plane y = 0; rays have unit forward component
        floor = s["semseg"] == CLASSES.index("floor")
        assert np.allclose(s["depth"][floor], t[floor], rtol=1e-4)
        assert (s["depth"] > 0).all() and not (s["semseg"] == 0).any()  # the floor fills the frame


def test_boxes_enclose_instance_masks_and_caption_names_visible_objects(rendered) -> None:
    for scene, s in rendered:
        visible = s["scene"]["visible"]
        assert len(s["det"]) == len(visible) >= 1 and s["det"].image_size == (SIZE, SIZE)
        for k, det in zip(visible, s["det"]):
            ys, xs = np.nonzero(s["instances"] == k)
            x0, y0, x1, y1 = det["box"]
            assert (x0, y0, x1, y1) == (xs.min(), ys.min(), xs.max() + 1, ys.max() + 1)
            assert det["label"] == scene.objects[k].shape and det["score"] == 1.0
            assert (s["semseg"][ys, xs] == CLASSES.index(det["label"])).all()
            assert scene.objects[k].phrase() in s["caption"]
        assert s["caption"].count(" a ") == len(visible)  # one per object, one for the floor
        assert np.allclose(np.linalg.norm(s["normal"], axis=-1), 1.0, atol=1e-5)
        assert s["rgb"].dtype == np.uint8 and s["rgb"].std() > 5


def test_caption_ends_with_the_floor_tone_which_orders_rendered_floor_brightness() -> None:
    """The tone word is what a caption says about most pixels: it must follow the rendered floor
    (rank correlation of floor_radiance with the floor's mean pixel), and each word should name
    about a quarter of the scene prior."""
    scenes = [sample_scene(np.random.default_rng([11, i])) for i in range(12)]
    floor_mean = []
    for i, sc in enumerate(scenes):
        s = render(sc, size=32, spp=4, seed=i)
        floor_mean.append(s["rgb"][s["semseg"] == CLASSES.index("floor")].mean())
        assert s["caption"].endswith(f" {floor_tone(sc)} floor")
    ranks = [np.argsort(np.argsort(v)) for v in ([floor_radiance(sc) for sc in scenes], floor_mean)]
    assert np.corrcoef(*ranks)[0, 1] > 0.9
    rng = np.random.default_rng(5)
    tones = [floor_tone(sample_scene(rng)) for _ in range(2000)]
    words = [w for w, _ in FLOOR_TONES]
    assert all(0.2 < tones.count(w) / len(tones) < 0.3 for w in words), {w: tones.count(w) for w in words}


@pytest.mark.slow
def test_generate_is_deterministic_resumable_and_readable(tmp_path, registry) -> None:
    settings = SynthSettings(n=5, size=48, seed=3, per_shard=2, spp=4)
    a = generate(tmp_path / "a", settings, registry=registry, progress=False)
    assert (a.images, a.shards_written) == (5, 3)
    b = generate(tmp_path / "b", settings, workers=2, registry=registry, progress=False)
    sa = list(read_samples(str(tmp_path / "a"), registry))
    sb = list(read_samples(str(tmp_path / "b"), registry))
    assert [s["__key__"] for s in sa] == [f"train-s3-{i:07d}" for i in range(5)] == [s["__key__"] for s in sb]
    for x, y in zip(sa, sb):
        for name in ("rgb", "depth", "normal", "semseg"):
            assert np.array_equal(x[name], y[name]), name
        assert x["caption"] == y["caption"] and x["det"] == y["det"] and x["camera"] == y["camera"]
    assert set(sa[0]) >= {"rgb", "depth", "normal", "semseg", "det", "caption", "camera", "scene"}
    assert b.images == 5
    manifest = json.loads((tmp_path / "a" / "synth-train.json").read_text())
    assert manifest["classes"] == list(CLASSES)

    (tmp_path / "a" / "train-000002.tar").unlink()
    (tmp_path / "a" / ".train-000002.tar.tmp-999999999").write_bytes(b"half")
    again = generate(tmp_path / "a", settings, registry=registry, progress=False)
    assert (again.shards_skipped, again.shards_written, again.images) == (2, 1, 1)
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [
        "synth-train.json", "train-000000.tar", "train-000001.tar", "train-000002.tar"]
    other = list(read_samples(str(tmp_path / "a" / "train-000002.tar"), registry))
    assert np.array_equal(other[0]["rgb"], sa[4]["rgb"])
    val = generate(tmp_path / "a", settings.model_copy(update={"split": "val", "n": 1}),
                   registry=registry, progress=False)
    assert val.images == 1
    (v,) = read_samples(str(tmp_path / "a" / "val-*.tar"), registry)
    assert not np.array_equal(v["rgb"], sa[0]["rgb"])  # another random stream
    with pytest.raises(FourmError, match="other settings"):
        generate(tmp_path / "a", settings.model_copy(update={"size": 32}), registry=registry,
                 progress=False)


def test_data_synth_cli(tmp_path, runner, registry) -> None:
    result = runner.invoke(build_app(registry), ["data", "synth", "--out", str(tmp_path), "--n", "2",
                                                 "--size", "32", "--spp", "2", "--seed", "1", "-q"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["images"] == 2
    samples = list(read_samples(str(tmp_path), registry))
    assert len(samples) == 2 and samples[0]["depth"].shape == (32, 32)
    bad = runner.invoke(build_app(registry), ["data", "synth", "--out", str(tmp_path), "--n", "2",
                                              "--split", "holdout"])
    assert bad.exit_code == 1 and "split" in bad.output
    tiled = runner.invoke(build_app(registry), ["data", "synth", "--out", str(tmp_path / "tiled"), "--n", "1",
                                                "--size", "32", "--spp", "2", "--floor-tile", "0.5", "-q"])
    assert tiled.exit_code == 0, tiled.output
    recorded = json.loads((tmp_path / "tiled" / "synth-train.json").read_text())["settings"]
    assert recorded["floor"] == {"tile": 0.5, "contrast": 0.15}
    assert next(iter(read_samples(str(tmp_path / "tiled"), registry)))["scene"]["floor_tile"] == 0.5


def test_checkered_floor_changes_only_the_floor_albedo_by_world_tile() -> None:
    """``floor_tile``: the same layout, camera and geometry as the plain floor; in linear RGB each
    floor pixel away from tile edges is the plain render × (1 − c) or × (1 + c), and which one
    follows the parity of the world tile the pixel sees (up to which parity is the dark one)."""
    tile, c = 1.0, 0.15
    for i in range(2):
        plain = sample_scene(np.random.default_rng([5, i]))
        tiled = sample_scene(np.random.default_rng([5, i]), floor_tile=tile, floor_contrast=c)
        assert (tiled.objects, tiled.origin, tiled.floor_rgb) == (plain.objects, plain.origin, plain.floor_rgb)
        a, b = render(plain, size=64, spp=16, seed=i), render(tiled, size=64, spp=16, seed=i)
        for key in ("depth", "normal", "semseg"):
            assert np.array_equal(a[key], b[key]), key
        cam = a["camera"]
        right, down, fwd = camera_basis(plain)
        v, u = np.mgrid[0:64, 0:64].astype(float)
        rays = (right * ((u - cam["cx"]) / cam["fx"])[..., None]
                + down * ((v - cam["cy"]) / cam["fy"])[..., None] + fwd)
        hit = np.asarray(plain.origin) + rays * a["depth"][..., None]  # z-depth: forward component 1
        cell = np.floor(hit[..., [0, 2]] / tile).astype(int)
        parity = cell.sum(-1) % 2
        near = np.ones((64, 64), bool)  # whole pixel footprint inside one tile: compare neighbours' cells
        for axis in (0, 1):
            for shift in (1, -1):
                near &= (np.roll(cell, shift, axis) == cell).all(-1)
        linear = [(x["rgb"].astype(float) / 255) ** 2.2 for x in (a, b)]
        ratio = linear[1].mean(-1) / np.maximum(linear[0].mean(-1), 1e-3)
        floor = (a["semseg"] == CLASSES.index("floor")) & near & (a["depth"] < 12)
        dark = ratio[floor] < 1
        assert floor.sum() > 500
        assert np.median(np.abs(ratio[floor] - np.where(dark, 1 - c, 1 + c))) < 0.04
        agree = (dark == (parity[floor] == 0)).mean()
        assert max(agree, 1 - agree) > 0.97, agree
