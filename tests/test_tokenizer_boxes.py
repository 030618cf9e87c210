"""Box serialisation (det ↔ ``v0=… v1=… v2=… v3=… <class>``) and tolerant parsing."""
from __future__ import annotations

import numpy as np
import pytest

from fourm_modalities import det
from fourm_modalities._boxes import boxes_to_text, quantize, text_to_boxes
from fourm_modalities.det import Detections


def _dets(rng: np.random.Generator, n: int, size=(640, 480)) -> Detections:
    w, h = size
    inst = []
    for _ in range(n):
        x0, x1 = sorted(rng.uniform(0, w, 2))
        y0, y1 = sorted(rng.uniform(0, h, 2))
        inst.append({"box": [x0, y0, x1, y1], "label": str(rng.choice(["cat", "traffic light", "dog"])),
                     "score": float(rng.uniform(0.6, 1.0))})
    return Detections(inst, image_size=size)


def test_serialise_format_order_and_threshold() -> None:
    value = Detections([
        {"box": [320, 240, 640, 480], "label": "dog", "score": 0.95},
        {"box": [0, 0, 64, 48], "label": "traffic light", "score": 0.7},
        {"box": [10, 10, 20, 20], "label": "cat", "score": 0.59},  # below 0.6: dropped
    ], image_size=(640, 480))
    text = det.to_text(value)
    assert text == "v0=0 v1=0 v2=100 v3=100 traffic light v0=500 v1=500 v2=999 v3=999 dog"


def test_round_trip_within_one_bin() -> None:
    rng = np.random.default_rng(0)
    for _ in range(20):
        value = _dets(rng, int(rng.integers(0, 8)))
        back = det.from_text(det.to_text(value))
        assert back.image_size == (1, 1) and len(back) == len(value)
        w, h = value.image_size
        expected = sorted(
            ([b["box"][0] / w, b["box"][1] / h, b["box"][2] / w, b["box"][3] / h], b["label"]) for b in value
        )
        got = sorted((b["box"], b["label"]) for b in back)
        for (eb, el), (gb, gl) in zip(expected, got):
            assert el == gl
            assert np.abs(np.array(eb) - np.array(gb)).max() <= 1 / 999 + 1e-9
        pixels = det.to_pixels(back, value.image_size)
        assert pixels.image_size == value.image_size
        assert all(0 <= b["box"][2] <= w + 1e-6 for b in pixels)


def test_parsing_tolerates_malformed_and_truncated_text() -> None:
    assert text_to_boxes("") == []
    assert text_to_boxes("a photo of a cat") == []
    good = "v0=1 v1=2 v2=3 v3=4 cat"
    cases = {
        good + " v0=5 v1=6 v2=": 1,  # truncated mid-box
        good + " v0=5 v1=6 v2=7 v3=8": 1,  # no label
        "v1=6 v0=5 v2=7 v3=8 dog " + good: 1,  # out of order
        good + " v1=5 v2=6 v3=7 v0=1 dog": 1,  # stray coordinates
        good + " v0=5 v1=6 v2=7000 v3=8 dog": 1,  # out-of-range bin
        "[S_3] " + good + " garbage v0=x v0=9 v1=9 v2=1 v3=1 hot dog": 2,
        "v0=v1= =3 ### v0=0 v1=0 v0=0": 0,
    }
    for text, n in cases.items():
        boxes = text_to_boxes(text)
        assert len(boxes) == n, text
        assert all(0 <= c <= 1 for b in boxes for c in b["box"])
    last = text_to_boxes("[S_3] " + good + " garbage v0=9 v1=9 v2=1 v3=1 hot dog")[-1]
    assert last["label"] == "hot dog" and last["box"] == pytest.approx([1 / 999, 1 / 999, 9 / 999, 9 / 999])
    # the garbage word after a complete box becomes part of its label, as generation would read it
    assert text_to_boxes(good + " garbage")[0]["label"] == "cat garbage"


def test_quantize_and_bad_values() -> None:
    assert quantize(0.0) == 0 and quantize(1.0) == 999 and quantize(1.7) == 999 and quantize(-1) == 0
    with pytest.raises(ValueError, match="image_size"):
        det.to_text([{"box": [0, 0, 1, 1], "label": "cat"}])
    with pytest.raises(ValueError, match="empty label"):
        boxes_to_text([{"box": [0, 0, 1, 1], "label": "  "}], (10, 10))
