"""Data-loader throughput against the rate at which a tiny-preset train step consumes samples.

Writes synthetic token shards (rgb + depth 14×14 grids, captions) to a temporary folder,
measures masked samples/s delivered by ``build_train_loader`` (its DataLoader workers
included), then the samples/s one tiny-preset train step (batch ``--batch``) consumes in the
same run. The figure that matters is their ratio (the loader should stay well ahead).

    .venv/bin/python benchmarks/bench_dataloader.py --workers 2
"""
from __future__ import annotations

import argparse
import json
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fourm_registry import Registry
from fourm_registry.data import DataConfig, build_train_loader
from fourm_registry.masking import MaskingConfig
from fourm_registry.model import build_model
from fourm_registry.shards import AtomicShardWriter

MODALITIES = ["rgb", "depth", "caption"]


def write_shards(root: Path, registry: Registry, shards: int, per_shard: int) -> str:
    rng = np.random.default_rng(0)
    for s in range(shards):
        with AtomicShardWriter(root / f"shard-{s:05d}.tar", registry) as w:
            for i in range(per_shard):
                w.write({"__key__": f"{s:05d}_{i:05d}",
                         "tok_rgb": rng.integers(0, 16384, (14, 14)).astype(np.int16),
                         "tok_depth": rng.integers(0, 8192, (14, 14)).astype(np.int16),
                         "tok_caption": rng.integers(204, 30000, int(rng.integers(8, 40))).astype(np.int16)})
    return str(root)


def loader_rate(loader: Any, batches: int, warmup: int = 3) -> tuple[float, Any]:
    it = iter(loader)
    for _ in range(warmup):
        batch = next(it)
    t = time.perf_counter()
    for _ in range(batches):
        batch = next(it)
    rate = batches * loader.plan.batch_size / (time.perf_counter() - t)
    it.close()
    return rate, batch


def step_rate(registry: Registry, batch: Any, steps: int) -> float:
    torch.manual_seed(0)
    model = build_model({"preset": "tiny"}, registry, MODALITIES).train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4)
    times = []
    for _ in range(steps + 1):  # the first is warm-up
        t = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        model(batch).loss.backward()
        opt.step()
        times.append(time.perf_counter() - t)
    size = next(iter(batch.values())).batch_size
    return size / min(times[1:])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=8)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--batches", type=int, default=40)
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--repeat", type=int, default=4)
    args = parser.parse_args(argv)
    registry = Registry.build(allow=[])
    masking = MaskingConfig(input_tokens=128, target_tokens=128)
    with tempfile.TemporaryDirectory() as tmp:
        shards = write_shards(Path(tmp), registry, shards=8, per_shard=128)
        data = DataConfig(shards=shards, num_workers=args.workers, repeat=args.repeat)
        loader = build_train_loader(data, masking, registry, MODALITIES, args.batch, seed=0)
        samples_per_s, batch = loader_rate(loader, args.batches)
    consumed = step_rate(registry, batch, args.steps)
    out = {"threads": torch.get_num_threads(), "workers": args.workers, "batch": args.batch, "repeat": args.repeat,
           "loader_samples_per_s": round(samples_per_s, 1),
           "loader_decoded_samples_per_s": round(samples_per_s / args.repeat, 1),
           "tiny_step_samples_per_s": round(consumed, 2),
           "loader_vs_step_ratio": round(samples_per_s / consumed, 1)}
    out["targets"] = {"loader_vs_tiny_step": {"value": out["loader_vs_step_ratio"], "target": ">= 3",
                                              "met": out["loader_vs_step_ratio"] >= 3}}
    print(json.dumps(out))  # one line: benchmarks/run_all.py reads the last JSON line
    return out


if __name__ == "__main__":
    main()
