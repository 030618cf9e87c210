"""``human_poses`` values and their 4M-21 text.

A value is a list of people, each ``{"box": [x0, y0, x1, y1] (fractions of the image),
"global_orient": 9 floats (3×3 rotation, body → camera), "pose": 207 floats (23 SMPL joint
rotations, 3×3 each, relative to the parent; optional once tokenised), "pose_tokens": 8 ids
of the 1024-code pose tokenizer, "betas": 10 SMPL shape floats, "camera": [s, tx, ty] weak
perspective}``. Text per person: ``human`` + the box (``v0``…``v3``), then four blocks in
random order: ``pose`` + 8 ids (``v0=i``/``v1=i-512``), ``global`` + 9 values in [-1, 1],
``shape`` + 10 betas in [-3, 3], ``camera`` + 3 values in [-1, 19], each on 1000 bins.
"""
from __future__ import annotations

import random
from typing import Any

import numpy as np

from fourm_4m21_common.coords import coord, coord_words, id_from_word, id_to_word, parse_coord

POSE_DIM, POSE_TOKENS, POSE_CODES = 207, 8, 1024
BLOCKS = {  # name: (value key, count, lo, hi)
    "global": ("global_orient", 9, -1.0, 1.0),
    "shape": ("betas", 10, -3.0, 3.0),
    "camera": ("camera", 3, -1.0, 19.0),
}
BINS = 999


def _floats(x: Any, n: int, what: str) -> list[float]:
    vals = [float(v) for v in np.asarray(x, dtype=np.float64).reshape(-1)] if x is not None else []
    if len(vals) != n or not np.isfinite(vals).all():
        raise ValueError(f"{what} must be {n} finite numbers")
    return vals


def check_people(value: Any) -> list[dict]:
    if not isinstance(value, list):
        raise ValueError(f"human_poses values are lists of people, got {type(value).__name__}")
    for p in value:
        if not isinstance(p, dict):
            raise ValueError(f"a person is a dict, got {type(p).__name__}")
        _floats(p.get("box"), 4, "box")
        for key, n, _, _ in BLOCKS.values():
            _floats(p.get(key), n, key)
        if p.get("pose") is not None:
            _floats(p["pose"], POSE_DIM, "pose")
        toks = p.get("pose_tokens")
        if toks is not None and (len(toks) != POSE_TOKENS or not all(0 <= int(t) < POSE_CODES for t in toks)):
            raise ValueError(f"pose_tokens must be {POSE_TOKENS} ids in 0..{POSE_CODES - 1}")
        if toks is None and p.get("pose") is None:
            raise ValueError("a person needs 'pose' or 'pose_tokens'")
    return value


def _scaled(v: float, lo: float, hi: float) -> int:
    return int(round((min(max(v, lo), hi) - lo) / (hi - lo) * BINS))


def to_text(value: Any) -> str:
    words: list[str] = []
    for p in check_people(value):
        if p.get("pose_tokens") is None:
            raise ValueError("a person has a pose but no pose_tokens: run "
                             "fourm_human_poses.tokenize_poses(values, pose_tokenizer(path)) first")
        blocks = [["pose", *(id_to_word(t) for t in p["pose_tokens"])]]
        for name, (key, _, lo, hi) in BLOCKS.items():
            blocks.append([name, *(coord(0, _scaled(v, lo, hi)) for v in _floats(p[key], len(p[key]), key))])
        random.shuffle(blocks)  # 4M-21 shuffles the blocks; the box always comes first
        words += ["human", *(coord(a, v * BINS) for a, v in enumerate(p["box"]))]
        words += [w for block in blocks for w in block]
    return " ".join(words)


def from_text(text: str) -> list[dict]:
    """Parse (generated) text; people missing a part are dropped, never raised."""
    people: list[dict] = []
    current: dict | None = None
    block = ""
    for word in coord_words(text) + ["human"]:
        c = parse_coord(word)
        if c is None:
            if word == "human":
                if current is not None and _complete(current):
                    people.append(current)
                current, block = {"box": [], "pose_tokens": []}, "box"
            elif current is not None and (word in BLOCKS or word == "pose"):
                block = word
                if word in BLOCKS:
                    current[BLOCKS[word][0]] = []
            else:
                block = ""
        elif current is None or not block:
            continue
        elif block == "box":
            current["box"].append(c[1] / BINS)
            block = "box" if len(current["box"]) < 4 else ""
        elif block == "pose":
            idx = id_from_word(word)
            if idx is not None:
                current["pose_tokens"].append(idx)
        elif c[0] == 0:
            key, _, lo, hi = BLOCKS[block]
            current[key].append(lo + (hi - lo) * c[1] / BINS)
    return people


def _complete(p: dict) -> bool:
    return (len(p["box"]) == 4 and len(p["pose_tokens"]) == POSE_TOKENS
            and all(len(p.get(key, ())) == n for key, n, _, _ in BLOCKS.values()))


def distance(a: Any, b: Any) -> float:
    """Largest difference of any quantised number as a fraction of its range; infinite if the
    people or their pose tokens differ."""
    if len(a) != len(b):
        return float("inf")
    worst = 0.0
    for pa, pb in zip(a, b):
        if list(pa["pose_tokens"]) != list(pb["pose_tokens"]):
            return float("inf")
        worst = max(worst, float(np.abs(np.subtract(pa["box"], pb["box"])).max()))
        for key, _, lo, hi in BLOCKS.values():
            da = np.clip(np.asarray(pa[key], float), lo, hi) - np.clip(np.asarray(pb[key], float), lo, hi)
            worst = max(worst, float(np.abs(da).max()) / (hi - lo))
    return worst


def examples(spec: Any, rng: np.random.Generator) -> list[list[dict]]:
    def person() -> dict:
        x0, y0 = rng.uniform(0, 0.5, 2)
        return {"box": [x0, y0, x0 + 0.3, y0 + 0.45], "global_orient": rng.uniform(-1, 1, 9).tolist(),
                "pose_tokens": rng.integers(0, POSE_CODES, POSE_TOKENS).tolist(),
                "betas": rng.uniform(-3, 3, 10).tolist(), "camera": [rng.uniform(0.5, 2), 0.1, -0.2]}
    return [[person()], [person() for _ in range(3)], []]
