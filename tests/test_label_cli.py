"""``fourm label`` end to end from tiny local checkpoints: bad input, resume, --limit, folders."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from fourm_cli.app import build_app
from fourm_modalities.labelers.tiny import save_tiny
from fourm_registry import read_samples

from ._label_helpers import write_img2dataset_shard


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tiny")
    return {kind: save_tiny(kind, root / kind) for kind in ("depth", "clip")}


def _run(runner, registry, args: list[str]) -> dict:
    result = runner.invoke(build_app(registry), ["label", *args, "--quiet", "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(result.stdout)


def test_label_bad_input_is_converted_or_skipped_and_counted(tmp_path, runner, registry, tiny) -> None:
    good = write_img2dataset_shard(tmp_path / "00000.tar", [f"0000000{i}" for i in range(8)], bad=True)
    good += write_img2dataset_shard(tmp_path / "00001.tar", ["00000010", "00000011"], seed=1)
    out = tmp_path / "out"
    args = [str(tmp_path / "{00000..00001}.tar"), "--out", str(out), "-m", "depth,clip",
            "--model", f"depth={tiny['depth']}", "--model", f"clip={tiny['clip']}",
            "--batch-size", "3", "--device", "cpu"]
    rep = _run(runner, registry, args)
    assert rep["images"] == len(good) == 8 and rep["shards_written"] == 2
    assert rep["skipped"] == {"unreadable image (UnidentifiedImageError)": 1, "smaller than 32 px": 1}
    assert rep["converted"] == {"grayscale": 1, "cmyk": 1, "alpha": 1}
    assert rep["missing_captions"] == 1 and rep["ignored_members"] == 1
    assert sorted(p.name for p in out.iterdir()) == ["00000.tar", "00001.tar"]
    samples = list(read_samples(str(out), registry))
    assert [s["__key__"] for s in samples] == good
    for s in samples:
        assert s["rgb"].shape == (48, 64, 3) and s["depth"].shape == (48, 64)
        assert s["depth"].dtype == np.float32 and s["clip"].shape == (4, 4, 32)
        assert ("caption" in s) == (s["__key__"] != "00000005")
    assert samples[1]["rgb"].std(axis=-1).max() < 2  # the grayscale input stays gray
    again = _run(runner, registry, args)
    assert again["images"] == 0 and again["shards_skipped"] == 2


def test_limit_marks_a_cut_shard_partial_and_a_rerun_completes_it(tmp_path, runner, registry, tiny) -> None:
    keys = [[f"a{i}" for i in range(3)], [f"b{i}" for i in range(3)]]
    for j, ks in enumerate(keys):
        write_img2dataset_shard(tmp_path / f"in{j}.tar", ks, seed=j)
    out = tmp_path / "out"
    base = [str(tmp_path / "in*.tar"), "--out", str(out), "-m", "depth",
            "--model", f"depth={tiny['depth']}", "--batch-size", "2"]
    assert _run(runner, registry, [*base, "--limit", "4"])["images"] == 4
    assert (out / "in1.tar.partial").exists() and not (out / "in0.tar.partial").exists()
    assert len(list(read_samples(str(out / "in1.tar"), registry))) == 1
    rep = _run(runner, registry, base)
    assert rep["shards_skipped"] == 1 and rep["images"] == 3
    assert not (out / "in1.tar.partial").exists()
    assert [s["__key__"] for s in read_samples(str(out), registry)] == keys[0] + keys[1]


def test_label_a_folder_of_images(tmp_path, runner, registry, tiny) -> None:
    src = tmp_path / "images"
    src.mkdir()
    for i in range(3):
        Image.fromarray(np.full((40, 50, 3), 60 * i, np.uint8)).save(src / f"img{i}.png")
    (src / "img1.txt").write_text("the second one")
    out = tmp_path / "out"
    rep = _run(runner, registry, [str(src), "--out", str(out), "-m", "depth", "--per-shard", "2",
                                  "--model", f"depth={tiny['depth']}"])
    assert rep["images"] == 3 and sorted(p.name for p in out.iterdir()) == ["000000.tar", "000001.tar"]
    samples = list(read_samples(str(out), registry))
    assert [s["__key__"] for s in samples] == ["img0", "img1", "img2"]
    assert samples[1]["caption"] == "the second one" and "caption" not in samples[0]


@pytest.mark.parametrize("args,message", [
    (["-m", "dpeth"], "Did you mean 'depth'"),
    (["-m", "rgb"], "has no pseudo-labeler"),
    (["-m", "depth", "--model", "clip=/x"], "not in --modalities"),
    (["-m", "depth", "--model", "depth"], "MODALITY=VALUE"),
    (["-m", "depth", "--device", "tpu"], "Unknown device"),
])
def test_label_user_errors_are_one_line(tmp_path, runner, registry, args, message) -> None:
    write_img2dataset_shard(tmp_path / "x.tar", ["k0"])
    result = runner.invoke(build_app(registry), ["label", str(tmp_path / "x.tar"),
                                                 "--out", str(tmp_path / "o"), *args])
    assert result.exit_code == 1 and message in result.output and "Traceback" not in result.output


def test_label_fourm_shards_keeps_other_fields_and_replaces_relabeled_ones(tmp_path, runner, registry,
                                                                           tiny) -> None:
    from fourm_registry.shards import AtomicShardWriter

    rgb = np.random.default_rng(0).integers(0, 255, (40, 40, 3), dtype=np.uint8)
    with AtomicShardWriter(tmp_path / "in" / "s.tar", registry) as w:
        w.write({"__key__": "k0", "rgb": rgb, "caption": "a red cube", "camera": {"fx": 1.0},
                 "depth": np.full((2, 2), 7.0, np.float32), "tok_depth": np.zeros(4, np.int16),
                 "normal": np.zeros((40, 40, 3), np.float32)})
    rep = _run(runner, registry, [str(tmp_path / "in"), "--out", str(tmp_path / "out"), "-m", "depth",
                                  "--model", f"depth={tiny['depth']}"])
    assert rep["images"] == 1 and rep["ignored_members"] == 0
    (s,) = read_samples(str(tmp_path / "out"), registry)
    assert s["caption"] == "a red cube" and s["camera"] == {"fx": 1.0} and s["normal"].shape == (40, 40, 3)
    assert s["depth"].shape == (40, 40) and "tok_depth" not in s  # relabeled, stale tokens dropped
