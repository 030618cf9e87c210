"""``sam_instance`` values, their text, the 64×64 mask tokenizer and the point-query labeler.

A value is a list of query points, each ``{"point": [x, y], "instances": [{"box": [x0, y0,
x1, y1], "tokens": [16 ids], "mask": 64×64 bool}, …]}`` with coordinates as fractions of the
image. An instance is a SAM mask containing the point, cropped to its box and resized to
64×64; a VQ tokenizer (``MASK_SPEC``, 1024 codes, 16 tokens) turns it into ``tokens``. Text:
``point v0=x v1=y`` then ``none`` or, per instance, ``polygon v0=x0 v1=y0 v2=x1 v3=y1`` and its
16 ids (``v0=i`` below 512, ``v1=i-512`` above), as 4M-21 writes it (coordinates in 1000 bins).
"""
from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np
from PIL import Image

from fourm_4m21_common.coords import coord, coord_words, id_from_word, id_to_word, parse_coord
from fourm_registry import Codec, MaskingSpec, ModalityKind, ModalitySpec, TokenizerSpec
from fourm_registry.codecs import image_codec
from fourm_registry.tokenizers import DenseAdapter, DenseTokenizerFactory

MASK_SIZE, MASK_TOKENS, MASK_CODES = 64, 16, 1024
BINS = 999


# -- the inner mask tokenizer ----------------------------------------------------------------
def _mask_in(value: Any) -> np.ndarray:
    m = np.asarray(value)
    if m.ndim != 2:
        raise ValueError(f"expected an H×W mask, got shape {m.shape}")
    return np.where(m > 0, 1.0, -1.0).astype(np.float32)[None]


MASK_SPEC = ModalitySpec(  # not registered: the part of sam_instance that a VQ tokenizer handles
    name="sam_mask", kind=ModalityKind.DENSE, description="SAM instance mask crop",
    value="64×64 bool", masking=MaskingSpec(rule="uniform"), codec=image_codec("png", mode="L"),
    tokenizer=TokenizerSpec(vocab_size=MASK_CODES, image_size=MASK_SIZE, patch_size=16,
                            factory=DenseTokenizerFactory(DenseAdapter(
                                in_channels=1, to_input=_mask_in, from_output=lambda y: y[0] > 0,
                                loss="mse", defaults={"channels": [32, 64, 64, 128, 128]}))),
)


def mask_tokenizer(path: Any = None) -> Any:
    """The 64×64 mask VQ tokenizer: fresh (``None``) or saved at ``path``."""
    return MASK_SPEC.create_tokenizer(path)


def crop_mask(mask: np.ndarray) -> tuple[list[float], np.ndarray] | None:
    """Full-image bool mask → (normalised box, 64×64 crop); ``None`` for an empty mask."""
    ys, xs = np.nonzero(mask)
    if len(xs) == 0:
        return None
    h, w = mask.shape
    x0, x1, y0, y1 = xs.min(), xs.max() + 1, ys.min(), ys.max() + 1
    crop = Image.fromarray(mask[y0:y1, x0:x1].astype(np.uint8) * 255).resize((MASK_SIZE, MASK_SIZE), Image.BILINEAR)
    return [x0 / w, y0 / h, x1 / w, y1 / h], np.asarray(crop) > 127


def tokenize_instances(values: list[Any], tokenizer: Any) -> list[Any]:
    """Fill ``tokens`` of every instance that has a ``mask`` (values are updated and returned)."""
    todo = [inst for v in values for p in v for inst in p["instances"] if "mask" in inst]
    for inst, toks in zip(todo, tokenizer.encode([inst["mask"] for inst in todo]) if todo else []):
        inst["tokens"] = [int(t) for t in np.asarray(toks).reshape(-1)]
    return values


# -- checks, text, codec -----------------------------------------------------------------------
def _numbers(x: Any, n: int, what: str) -> list[float]:
    vals = [float(v) for v in x] if isinstance(x, list | tuple | np.ndarray) else []
    if len(vals) != n or not all(np.isfinite(vals)):
        raise ValueError(f"{what} must be {n} finite numbers, got {x!r:.60}")
    return vals


def check_instances(value: Any) -> list[dict]:
    if not isinstance(value, list):
        raise ValueError(f"sam_instance values are lists of query points, got {type(value).__name__}")
    for q in value:
        if not isinstance(q, dict) or "point" not in q or not isinstance(q.get("instances"), list):
            raise ValueError(f"query point {q!r:.60} needs 'point' and a list of 'instances'")
        _numbers(q["point"], 2, "point")
        for inst in q["instances"]:
            _numbers(inst.get("box"), 4, "box")
            toks = inst.get("tokens")
            if toks is not None and (len(toks) != MASK_TOKENS or not all(0 <= int(t) < MASK_CODES for t in toks)):
                raise ValueError(f"instance tokens must be {MASK_TOKENS} ids in 0..{MASK_CODES - 1}")
    return value


def to_text(value: Any) -> str:
    words: list[str] = []
    for q in check_instances(value):
        x, y = q["point"]
        words += ["point", coord(0, x * BINS), coord(1, y * BINS)]
        if not q["instances"]:
            words.append("none")
        for inst in q["instances"]:
            if inst.get("tokens") is None:
                raise ValueError("an instance has a mask but no tokens: run "
                                 "fourm_sam.tokenize_instances(values, mask_tokenizer(path)) first")
            words += ["polygon", *(coord(a, v * BINS) for a, v in enumerate(inst["box"]))]
            words += [id_to_word(t) for t in inst["tokens"]]
    return " ".join(words)


def from_text(text: str) -> list[dict]:
    """Parse (generated) text; malformed points or instances are dropped, never raised."""
    out: list[dict] = []
    state, nums, inst = "", [], None
    for word in coord_words(text) + ["point"]:  # a final marker flushes the last entry
        c = parse_coord(word)
        if c is None:
            if inst is not None and len(inst["tokens"]) == MASK_TOKENS and out:
                out[-1]["instances"].append(inst)
            inst = None
            if word == "point":
                state, nums = "point", []
            elif word == "polygon" and out:
                state, nums, inst = "box", [], {"box": [], "tokens": []}
            else:
                state = ""
        elif state == "point":
            nums.append(c[1] / BINS)
            if len(nums) == 2:
                out.append({"point": nums, "instances": []})
                state = ""
        elif state == "box" and inst is not None:
            inst["box"].append(c[1] / BINS)
            state = "tokens" if len(inst["box"]) == 4 else "box"
        elif state == "tokens" and inst is not None and id_from_word(word) is not None:
            inst["tokens"].append(id_from_word(word))
    return out


def _pack(mask: Any) -> str:
    m = np.asarray(mask, dtype=bool)
    return f"{m.shape[0]}x{m.shape[1]}:" + base64.b64encode(np.packbits(m).tobytes()).decode()


def _unpack(text: str) -> np.ndarray:
    shape, _, data = text.partition(":")
    h, w = (int(v) for v in shape.split("x"))
    return np.unpackbits(np.frombuffer(base64.b64decode(data), np.uint8))[: h * w].reshape(h, w).astype(bool)


def _encode(value: Any) -> bytes:
    rows = [{"point": list(map(float, q["point"])), "instances": [
        {**{k: v for k, v in inst.items() if k != "mask"}, "box": list(map(float, inst["box"])),
         **({"mask": _pack(inst["mask"])} if "mask" in inst else {})} for inst in q["instances"]]}
        for q in check_instances(value)]
    return json.dumps(rows).encode("utf-8")


def _decode(data: bytes) -> list[dict]:
    rows = check_instances(json.loads(data.decode("utf-8")))
    for q in rows:
        for inst in q["instances"]:
            if "mask" in inst:
                inst["mask"] = _unpack(inst["mask"])
    return rows


CODEC = Codec(extension="json", encode=_encode, decode=_decode)


def distance(a: Any, b: Any) -> float:
    """Largest point/box difference (fractions of the image); infinite if the structure or
    mask tokens differ."""
    if len(a) != len(b):
        return float("inf")
    worst = 0.0
    for qa, qb in zip(a, b):
        if len(qa["instances"]) != len(qb["instances"]):
            return float("inf")
        worst = max(worst, float(np.abs(np.subtract(qa["point"], qb["point"])).max()))
        for ia, ib in zip(qa["instances"], qb["instances"]):
            if list(ia.get("tokens") or []) != list(ib.get("tokens") or []):
                return float("inf")
            worst = max(worst, float(np.abs(np.subtract(ia["box"], ib["box"])).max()))
    return worst


def examples(spec: Any, rng: np.random.Generator) -> list[list[dict]]:
    def inst() -> dict:
        x0, y0 = rng.uniform(0, 0.5, 2)
        return {"box": [x0, y0, x0 + 0.3, y0 + 0.4],
                "tokens": rng.integers(0, MASK_CODES, MASK_TOKENS).tolist()}
    return [[{"point": rng.uniform(0, 1, 2).tolist(), "instances": [inst() for _ in range(k)]}
             for k in (0, 1, 2)], []]
