"""Input decoding for labeling (conversions, sources) and the generic shard fields read_samples returns."""
from __future__ import annotations

import io
import json

import numpy as np
import pytest
from PIL import Image

import fourm_registry
from fourm_modalities.det import Detections
from fourm_registry import FourmError
from fourm_registry.labeling.inputs import folder_sources, load_image, open_sources, read_captions
from fourm_registry.shards import AtomicShardWriter, ReadStats


def _png(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="PNG")
    return buf.getvalue()


def test_load_image_converts_every_mode_to_rgb() -> None:
    gray16 = Image.fromarray(np.full((4, 5), 65535, dtype=np.uint16))
    arr, conv = load_image(_png(gray16))
    assert conv == "grayscale" and arr.shape == (4, 5, 3) and arr.dtype == np.uint8 and (arr == 255).all()
    rgba = Image.new("RGBA", (3, 2), (200, 10, 10, 0))  # fully transparent → white background
    arr, conv = load_image(_png(rgba))
    assert conv == "alpha" and (arr == 255).all()
    pal = Image.new("P", (3, 3), 5)
    arr, conv = load_image(_png(pal))
    assert conv == "palette" and arr.shape == (3, 3, 3)
    cmyk = io.BytesIO()
    Image.new("CMYK", (4, 4), (0, 255, 255, 0)).save(cmyk, format="JPEG")
    arr, conv = load_image(cmyk.getvalue())
    assert conv == "cmyk" and arr[..., 0].mean() > 200 and arr[..., 1].mean() < 60  # red
    arr, conv = load_image(_png(Image.new("RGB", (2, 2), (1, 2, 3))))
    assert conv is None and arr[0, 0].tolist() == [1, 2, 3]
    with pytest.raises(ValueError, match="unreadable"):
        load_image(b"\x89PNG truncated")


def test_folder_source_with_captions_file_and_sidecars(tmp_path) -> None:
    for name in ("b.png", "a.png", "sub/c.v2.png"):
        (tmp_path / name).parent.mkdir(exist_ok=True)
        Image.new("RGB", (40, 40)).save(tmp_path / name)
    (tmp_path / "a.txt").write_text("sidecar caption")
    caps = tmp_path / "caps.tsv"
    caps.write_text("b.png\tfrom the file\n")
    sources = folder_sources(tmp_path, per_shard=2, captions=caps)
    assert [s.name for s in sources] == ["000000.tar", "000001.tar"] and [s.size for s in sources] == [2, 1]
    items = [it for s in sources for it in s.items(ReadStats())]
    assert [it.key for it in items] == ["a", "b", "sub_c_v2"]  # no dots or slashes in keys
    assert [it.caption for it in items] == ["sidecar caption", "from the file", None]
    (tmp_path / "caps.json").write_text(json.dumps({"a": "json caption"}))
    assert read_captions(tmp_path / "caps.json") == {"a": "json caption"}
    with pytest.raises(FourmError, match="--captions"):
        open_sources(str(tmp_path / "*.tar"), captions=caps)


def test_missing_shards_are_a_user_error(tmp_path) -> None:
    with pytest.raises(FourmError, match="not found"):
        open_sources(str(tmp_path / "{000..001}.tar"))


def test_read_samples_decodes_modalities_and_generic_fields(tmp_path, registry) -> None:
    dets = Detections([{"box": [1, 2, 5, 6], "label": "cube", "score": 1.0}], image_size=(8, 8))
    sample = {"__key__": "k0", "rgb": np.zeros((8, 8, 3), np.uint8),
              "depth": np.ones((8, 8), np.float32), "det": dets, "caption": "a cube",
              "camera": {"fx": 10.0, "fy": 10.0, "cx": 3.5, "cy": 3.5}, "note": "free text",
              "tok_depth": np.arange(4, dtype=np.int16)}
    with AtomicShardWriter(tmp_path / "s.tar", registry) as w:
        w.write(sample)
    (got,) = list(fourm_registry.read_samples(str(tmp_path / "s.tar"), registry))
    assert got["camera"] == sample["camera"] and got["note"] == "free text"
    assert got["caption"] == "a cube" and tuple(got["det"].image_size) == (8, 8) and got["det"] == list(dets)
    assert got["rgb"].shape == (8, 8, 3) and got["depth"].dtype == np.float32
    assert got["tok_depth"].tolist() == [0, 1, 2, 3]
    with pytest.raises(ValueError, match="not a registered modality"):
        with AtomicShardWriter(tmp_path / "t.tar", registry) as w:
            w.write({"__key__": "k", "odd": 3.5})
    assert not list(tmp_path.glob(".t.tar.tmp-*")) and not (tmp_path / "t.tar").exists()
