"""img2dataset-style input shards (with bad members on demand) for the labeling tests."""
from __future__ import annotations

import io
import json
import tarfile
from pathlib import Path

import numpy as np
from PIL import Image


def encode(img: Image.Image) -> bytes:
    buf = io.BytesIO()
    img.save(buf, format="JPEG" if img.mode in ("RGB", "L", "CMYK") else "PNG")
    return buf.getvalue()


def add_member(tf: tarfile.TarFile, name: str, data: bytes) -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    tf.addfile(info, io.BytesIO(data))


def write_img2dataset_shard(path: Path, keys: list[str], size: tuple[int, int] = (48, 64),
                            seed: int = 0, bad: bool = False) -> list[str]:
    """Write ``000000001.jpg/.txt/.json`` members per key, as img2dataset does.

    ``bad``: key 1 grayscale, 2 CMYK, 3 RGBA (PNG), 4 unreadable, 5 no caption, 6 tiny (8×8),
    key 0 carries a junk member. Returns the keys a labeler should write.
    """
    rng = np.random.default_rng(seed)
    good = []
    with tarfile.open(path, "w") as tf:
        for i, key in enumerate(keys):
            h, w = (8, 8) if bad and i == 6 else size
            img = Image.fromarray(rng.integers(0, 255, (h, w, 3), dtype=np.uint8))
            if bad and i in (1, 2, 3):
                img = img.convert({1: "L", 2: "CMYK", 3: "RGBA"}[i])
            data = b"this is not an image" if bad and i == 4 else encode(img)
            add_member(tf, f"{key}.jpg", data)
            if not (bad and i == 5):
                add_member(tf, f"{key}.txt", f"a photo number {i}".encode())
            add_member(tf, f"{key}.json", json.dumps({"key": key, "status": "success"}).encode())
            if bad and i == 0:
                add_member(tf, f"{key}.junk", b"\x00\x01")
            if not (bad and i in (4, 6)):
                good.append(key)
    return good
