"""``fourm data synth`` throughput: images/s of the full generator against a bare RGB render.

The baseline renders the same scenes' RGB only (Mitsuba path tracer, same spp and size);
the generator adds the AOV render, modality extraction, encoding and shard writing. The
issue's target: several hundred images per minute at 128 px on 2 cores.

    .venv/bin/python benchmarks/bench_synth.py --n 24 --size 128
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from fourm_synth.generate import SPLITS, SynthSettings, generate
from fourm_synth.render import _mi, scene_dict
from fourm_synth.scene import sample_scene
from fourm_registry import Registry


def rgb_only_rate(settings: SynthSettings) -> float:
    mi = _mi()
    start = time.perf_counter()
    for i in range(settings.n):
        rng = np.random.default_rng([settings.seed, SPLITS[settings.split], i])
        desc, _ = scene_dict(sample_scene(rng, settings.max_objects), settings.size, settings.spp)
        desc.pop("cam_aov")
        img = mi.render(mi.load_dict(desc, optimize=False),
                        integrator=mi.load_dict({"type": "path", "max_depth": 3}), seed=i)
        np.array(img)
    return settings.n / (time.perf_counter() - start)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=24)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--spp", type=int, default=16)
    args = parser.parse_args(argv)
    registry = Registry.build(allow=[])
    settings = SynthSettings(n=args.n, size=args.size, spp=args.spp, per_shard=max(1, args.n // 2))
    out: dict[str, Any] = {"cores": os.cpu_count(), "n": args.n, "size": args.size, "spp": args.spp}
    base = rgb_only_rate(settings)
    out["rgb_only_images_per_s"] = round(base, 2)
    best = 0.0
    for workers in sorted({1, min(2, os.cpu_count() or 1)}):
        with tempfile.TemporaryDirectory() as tmp:
            rep = generate(Path(tmp), settings, workers=workers, registry=registry, progress=False)
        out[f"synth_w{workers}_images_per_s"] = round(rep.images_per_s, 2)
        out[f"synth_w{workers}_vs_rgb_only"] = round(rep.images_per_s / base, 3)
        best = max(best, rep.images_per_s)
    per_min = best * 60
    out["synth_images_per_min"] = round(per_min, 1)
    out["targets"] = {"images_per_min_at_128px": {"value": round(per_min, 1), "target": ">= 300",
                                                  "met": args.size == 128 and per_min >= 300}}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
