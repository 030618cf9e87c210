"""Small token shards for the trainer tests: learnable cross-modal structure, written as real tars."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from fourm_registry.shards import AtomicShardWriter

# 4×4 grids with 64 codes, short captions from a 300-word vocabulary (ids ≥ 204 are words).
SMALL = {"rgb": {"image_size": 32, "patch_size": 8, "vocab_size": 64},
         "depth": {"image_size": 32, "patch_size": 8, "vocab_size": 64},
         "normal": {"image_size": 32, "patch_size": 8, "vocab_size": 64},
         "caption": {"max_length": 12, "vocab_size": 300}}


def make_sample(rng: np.random.Generator, key: str) -> dict[str, Any]:
    """Grid codes from a 16-code subset laid out by class, depth a function of rgb, caption naming the class."""
    cls = int(rng.integers(0, 4))
    pattern = (np.arange(16) * 5) % 4
    noise = (rng.random(16) < 0.2) * rng.integers(0, 4, 16)
    rgb = (4 * (cls * 4 + (pattern + noise) % 4) % 64 + 1).astype(np.int16)  # 16 of 64 codes
    depth = ((rgb.astype(np.int64) * 3 + 1) % 64).astype(np.int16)
    length = int(rng.integers(3, 9))
    caption = np.array([204 + cls * 10 + j for j in range(length)], dtype=np.int16)
    normal = ((rgb.astype(np.int64) * 5 + 7) % 64).astype(np.int16)
    return {"__key__": key, "tok_rgb": rgb.reshape(4, 4), "tok_depth": depth.reshape(4, 4),
            "tok_normal": normal.reshape(4, 4), "tok_caption": caption}


def write_shards(root: Path, registry: Any, *, train_shards: int = 2, per_shard: int = 48,
                 val_samples: int = 24, seed: int = 0) -> dict[str, str]:
    """Write ``train-{i}.tar`` and ``val-0.tar`` under ``root``; returns the two shard specs."""
    rng = np.random.default_rng(seed)
    root.mkdir(parents=True, exist_ok=True)
    for shard in range(train_shards):
        with AtomicShardWriter(root / f"train-{shard}.tar", registry) as w:
            for i in range(per_shard):
                w.write(make_sample(rng, f"t{shard}_{i:04d}"))
    with AtomicShardWriter(root / "val-0.tar", registry) as w:
        for i in range(val_samples):
            w.write(make_sample(rng, f"v{i:04d}"))
    return {"train": str(root / f"train-{{0..{train_shards - 1}}}.tar"), "val": str(root / "val-0.tar")}
