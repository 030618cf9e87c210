"""``fourm label`` throughput per modality on CPU with the tiny random checkpoints.

Writes one img2dataset-style shard (``--images`` JPEGs of ``--size`` px), then labels it
once with no labeler (the baseline: decode, convert, write) and once per labeler. Reports
images/s of each run, the labeler's own images/s, and each run's rate as a ratio of the
baseline's, so the machinery's share of the time is visible.

    .venv/bin/python benchmarks/bench_label.py --images 32 --size 64
"""
from __future__ import annotations

import argparse
import io
import json
import tarfile
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

from fourm_modalities.labelers.tiny import save_tiny
from fourm_registry import Registry
from fourm_registry.labeling.inputs import tar_sources
from fourm_registry.labeling import build_labelers, label_shards

RUNS = {"depth": "depth", "normal (from depth)": "depth", "normal (3-channel head)": "normal_head",
        "semseg": "semseg", "det": "det", "clip": "clip"}


def write_input(path: Path, n: int, size: int) -> None:
    rng = np.random.default_rng(0)
    with tarfile.open(path, "w") as tf:
        for i in range(n):
            buf = io.BytesIO()
            Image.fromarray(rng.integers(0, 255, (size, size, 3), dtype=np.uint8)).save(buf, format="JPEG")
            for suffix, data in (("jpg", buf.getvalue()), ("txt", f"image {i}".encode())):
                info = tarfile.TarInfo(f"{i:09d}.{suffix}")
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))


def run(registry: Registry, shard: Path, out: Path, labelers: dict[str, Any], batch: int) -> Any:
    return label_shards(tar_sources(str(shard)), out, labelers, registry, image_field="rgb",
                        caption_field="caption", batch_size=batch, progress=False)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=32)
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--threads", type=int, default=None,
                        help="torch intra-op threads (1 avoids spin-waiting on a busy shared machine)")
    args = parser.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()
    registry = Registry.build(allow=[])
    out: dict[str, Any] = {"threads": torch.get_num_threads(), "images": args.images, "size": args.size}
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        shard = root / "00000.tar"
        write_input(shard, args.images, args.size)
        base = run(registry, shard, root / "base", {}, args.batch)
        out["baseline_images_per_s"] = round(base.images_per_s, 2)
        slowest = float("inf")
        for label, kind in RUNS.items():
            modality = label.split()[0]
            model = root / "models" / kind
            if not model.exists():
                save_tiny(kind, model)
            labelers = build_labelers(registry, [modality], "cpu", models={modality: str(model)})
            rep = run(registry, shard, root / label.replace(" ", "_"), labelers, args.batch)
            sec = rep.labeler_seconds.get(modality, 0.0)
            key = label.replace(" (", "_").replace(")", "").replace(" ", "_").replace("-", "")
            out[f"{key}_images_per_s"] = round(rep.images_per_s, 2)
            out[f"{key}_labeler_images_per_s"] = round(rep.images / sec, 2) if sec else None
            out[f"{key}_vs_baseline"] = round(rep.images_per_s / base.images_per_s, 3)
            slowest = min(slowest, rep.images_per_s)
    ratio = base.images_per_s / slowest
    out["targets"] = {"baseline_vs_slowest_labeler": {"value": round(ratio, 1), "target": ">= 2",
                                                      "met": ratio >= 2}}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
