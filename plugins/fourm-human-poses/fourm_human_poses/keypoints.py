"""``human_keypoints``: BlazePose's 33 body keypoints per person as coordinate tokens.

A value is a list of people, each ``{"keypoints": 33 × [x, y, visible]}`` (fractions of the
image; ``visible`` 0/1). Text per person: ``person`` then, per keypoint in BlazePose order,
``v0=x v1=y`` (1000 bins) or ``v2=0`` when it is hidden (a single token in any vocabulary). The labeler is MediaPipe BlazePose (real weights in
the mediapipe 0.10.14 wheel).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from fourm_4m21_common.coords import coord, coord_words, parse_coord
from fourm_4m21_common.draw import boxes
from fourm_4m21_common.images import rgb_array
from fourm_registry import LabelerSpec, MaskingSpec, ModalityKind, ModalitySpec, TokenizerSpec
from fourm_registry.codecs import json_codec
from fourm_registry.tokenizers import sequence_tokenizer_factory
from fourm_registry.tokenizers.sequence import TEXT_TOKENS_KEY

NUM_KEYPOINTS, BINS = 33, 999
HIDDEN = "v2=0"


def check_keypoints(value: Any) -> list[dict]:
    if not isinstance(value, list):
        raise ValueError(f"human_keypoints values are lists of people, got {type(value).__name__}")
    for p in value:
        kp = np.asarray(p.get("keypoints") if isinstance(p, dict) else None, dtype=np.float64)
        if kp.shape != (NUM_KEYPOINTS, 3) or not np.isfinite(kp).all():
            raise ValueError(f"a person needs 'keypoints': {NUM_KEYPOINTS} × [x, y, visible]")
    return value


def to_text(value: Any) -> str:
    words: list[str] = []
    for p in check_keypoints(value):
        words.append("person")
        for x, y, vis in p["keypoints"]:
            words += [coord(0, x * BINS), coord(1, y * BINS)] if vis >= 0.5 else [HIDDEN]
    return " ".join(words)


def from_text(text: str) -> list[dict]:
    """Parse (generated) text; a person without exactly 33 keypoints is dropped."""
    people, current, x = [], None, None
    for word in coord_words(text) + ["person"]:
        c = parse_coord(word)
        if word == "person":
            if current is not None and len(current) == NUM_KEYPOINTS:
                people.append({"keypoints": current})
            current, x = [], None
        elif current is None:
            continue
        elif word == HIDDEN:
            current.append([0.0, 0.0, 0])
        elif c is not None and c[0] == 0:
            x = c[1] / BINS
        elif c is not None and c[0] == 1 and x is not None:
            current.append([x, c[1] / BINS, 1])
            x = None
    return people


def distance(a: Any, b: Any) -> float:
    if len(a) != len(b):
        return float("inf")
    worst = 0.0
    for pa, pb in zip(a, b):
        ka, kb = np.asarray(pa["keypoints"], float), np.asarray(pb["keypoints"], float)
        vis = ka[:, 2] >= 0.5
        if not np.array_equal(vis, kb[:, 2] >= 0.5):
            return float("inf")
        worst = max(worst, float(np.abs(ka[vis, :2] - kb[vis, :2]).max(initial=0.0)))
    return worst


def examples(spec: Any, rng: np.random.Generator) -> list[list[dict]]:
    def person() -> dict:
        kp = np.concatenate([rng.uniform(0, 1, (NUM_KEYPOINTS, 2)), rng.integers(0, 2, (NUM_KEYPOINTS, 1))], 1)
        return {"keypoints": kp.tolist()}
    return [[person()], [person(), person()], []]


def draw(value: Any, size: int = 224):
    people = check_keypoints(value)
    img = boxes([], size)
    px = np.asarray(img).copy()
    for p in people:
        for x, y, vis in p["keypoints"]:
            if vis >= 0.5:
                cx, cy = int(min(max(x, 0), 1) * (size - 1)), int(min(max(y, 0), 1) * (size - 1))
                px[max(cy - 2, 0):cy + 3, max(cx - 2, 0):cx + 3] = (30, 90, 220)
    from PIL import Image

    return Image.fromarray(px)


class KeypointLabeler:
    """MediaPipe BlazePose → at most one person's 33 keypoints per image."""

    def __init__(self) -> None:
        from .blazepose import BlazePose

        self.pose = BlazePose()

    def __call__(self, images: Sequence[Any]) -> list[list[dict]]:
        out = []
        for i, img in enumerate(images):
            found = self.pose.landmarks(rgb_array(img, i))
            if found is None:
                out.append([])
                continue
            xy, _, vis = found
            kp = np.concatenate([xy, (vis >= 0.5)[:, None].astype(float)], 1)
            out.append([{"keypoints": kp.tolist()}])
        return out


def make_labeler(model: str | None = None, device: str = "cpu") -> KeypointLabeler:
    """``LabelerSpec.factory``: the BlazePose weights ship in the mediapipe wheel (``model`` unused)."""
    return KeypointLabeler()


SPEC = ModalitySpec(
    name="human_keypoints",
    kind=ModalityKind.SEQUENCE,
    description="Human body keypoints (BlazePose, 33 per person)",
    value='list of {"keypoints": 33 × [x, y, visible]} (fractions of the image)',
    tokenizer=TokenizerSpec(vocab_size=30000, max_length=256, shared="text",
                            factory=sequence_tokenizer_factory),
    masking=MaskingSpec(rule="span"),
    codec=json_codec(check=check_keypoints),
    labeler=LabelerSpec(name="mediapipe_keypoints", modality="human_keypoints", factory=make_labeler,
                        description="MediaPipe BlazePose (real weights in the mediapipe 0.10.14 wheel)"),
    to_text=to_text,
    from_text=from_text,
    draw=draw,
    extras={TEXT_TOKENS_KEY: ["person"], "examples": examples, "distance": distance,
            "roundtrip_tolerance": 1.0 / BINS},
)
