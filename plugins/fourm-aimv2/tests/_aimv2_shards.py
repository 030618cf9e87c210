"""Tiny image + caption shards for the AIMv2 tests: a coloured square on grey, a caption naming
its colour, and the scene facts (``facts.colour``, ``facts.size``) a probe can classify."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import yaml

from fourm_registry.shards import AtomicShardWriter

COLOURS = np.array([[220, 40, 40], [40, 200, 60], [50, 70, 230], [230, 210, 40]], dtype=np.uint8)
SIZE = 16
HERE = Path(__file__).resolve().parent
EXAMPLE = HERE.parents[2] / "configs" / "train_tiny.yaml"
SETTINGS = {"rgb": {"image_size": SIZE, "patch_size": 4}, "caption": {"max_length": 12, "vocab_size": 300}}
MODEL = {"family": "aimv2", "dim": 32, "depth": 2, "num_heads": 4, "decoder_dim": 32, "decoder_depth": 1,
         "decoder_heads": 4}


def make_sample(rng: np.random.Generator, key: str) -> dict[str, Any]:
    colour, side = int(rng.integers(0, 4)), int(rng.integers(0, 2))
    img = np.full((SIZE, SIZE, 3), 128, dtype=np.uint8)
    s = 6 + 4 * side
    y, x = rng.integers(0, SIZE - s + 1, 2)
    img[y:y + s, x:x + s] = COLOURS[colour]
    caption = np.array([204 + colour * 10 + j for j in range(3 + side)], dtype=np.int16)
    return {"__key__": key, "rgb": img, "tok_caption": caption, "facts": {"colour": colour, "size": side}}


def write_shards(root: Path, registry: Any, *, per_shard: int = 48, val: int = 24, seed: int = 0) -> dict[str, str]:
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for shard in range(2):
        with AtomicShardWriter(root / f"train-{shard}.tar", registry) as w:
            for i in range(per_shard):
                w.write(make_sample(rng, f"t{shard}_{i:04d}"))
    with AtomicShardWriter(root / "val-0.tar", registry) as w:
        for i in range(val):
            w.write(make_sample(rng, f"v{i:04d}"))
    return {"train": str(root / "train-{0..1}.tar"), "val": str(root / "val-0.tar")}


def write_config(path: Path, **model: Any) -> Path:
    """The example run config with the AIMv2 family, image+caption modalities, tiny sizes."""
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["model"] = {**MODEL, **model}
    raw["modalities"] = {"inputs": ["rgb", "caption"], "targets": ["rgb", "caption"], "settings": SETTINGS}
    path.write_text(yaml.safe_dump(raw))
    return path
