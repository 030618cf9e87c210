"""Benchmark: ``fourm tokenize`` throughput on the CPU and the codebook usage training reaches.

Prints one JSON dict:
- ``tokenize_images_per_s``: 224-px images/s through ``fourm tokenize`` with a default-size
  (randomly initialised) image VQ tokenizer; ``read_images_per_s`` is the baseline of only
  reading and decoding the same shards, and ``tokenize_vs_read`` their ratio.
- ``codebook_usage_pct`` / ``codebook_usage_pct_no_replacement``: share of a tiny tokenizer's
  codebook that the training images use after ``--steps`` steps with and without dead-code
  replacement, and their ratio; ``recon_loss_drop`` is held-out MSE before / after training.

Usage: ``python benchmarks/bench_tokenize.py [--images 64] [--steps 200]``
"""
from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from fourm_registry import Registry
from fourm_registry.shards import AtomicShardWriter, ReadStats, read_samples
from fourm_registry.tokenizers import load_tokenizers
from fourm_registry.tokenizers.data import tensor_batches
from fourm_registry.tokenizers.tokenize_job import tokenize_shards
from fourm_registry.tokenizers.training import TrainSettings, train_dense_tokenizer

IMAGE = "rgb"  # the benchmark's subject (benchmarks may name built-in modalities)


def smooth_images(n: int, size: int, seed: int = 0) -> np.ndarray:
    """Blurry colour fields: upsampled random low-resolution images (JPEG-friendly)."""
    rng = np.random.default_rng(seed)
    low = torch.from_numpy(rng.uniform(0, 255, (n, 3, 7, 7)).astype(np.float32))
    up = torch.nn.functional.interpolate(low, size=(size, size), mode="bicubic", align_corners=False)
    return up.clamp(0, 255).permute(0, 2, 3, 1).numpy().astype(np.uint8)


def palette_images(n: int, seed: int, size: int = 32, cell: int = 8) -> np.ndarray:
    palette = np.random.default_rng(123).integers(0, 256, (16, 3))
    idx = np.random.default_rng(seed).integers(0, 16, (n, size // cell, size // cell))
    return palette[idx].repeat(cell, axis=1).repeat(cell, axis=2).astype(np.uint8)


def bench_tokenize(registry: Registry, images: int, root: Path) -> dict[str, float]:
    data, toks, out = root / "data", root / "toks", root / "out"
    imgs = smooth_images(images, 224)
    for s in range(2):
        with AtomicShardWriter(data / f"shard-{s:03d}.tar", registry) as w:
            for i in range(s, images, 2):
                w.write({"__key__": f"img{i:05d}", IMAGE: imgs[i]})
    spec = registry.get_modality(IMAGE)
    spec.tokenizer.factory.fresh(spec).save_pretrained(toks / IMAGE)  # default architecture
    tokenizers = load_tokenizers(toks, registry, [IMAGE])
    start = time.perf_counter()
    n_read = sum(1 for _ in read_samples(str(data), registry, stats=ReadStats()))
    read_s = time.perf_counter() - start
    start = time.perf_counter()
    report = tokenize_shards(str(data), tokenizers, registry, out, batch_size=16)
    tok_s = time.perf_counter() - start
    assert report.samples_written == images == n_read, report
    return {"images": images, "read_images_per_s": round(n_read / read_s, 1),
            "tokenize_images_per_s": round(images / tok_s, 2),
            "tokenize_vs_read": round((images / tok_s) / (n_read / read_s), 4),
            "torch_threads": torch.get_num_threads()}


def bench_usage(registry: Registry, steps: int) -> dict[str, float]:
    spec = registry.get_modality(IMAGE).with_overrides(image_size=32, patch_size=8, vocab_size=128)
    train, held = palette_images(512, seed=0), palette_images(64, seed=1)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny models: one thread is fastest
    out: dict[str, float] = {}
    try:
        for replace in (True, False):
            torch.manual_seed(0)
            tok = spec.tokenizer.factory.fresh(spec, channels=[16, 32, 32, 32], norm_num_groups=8,
                                               replace_dead_codes=replace)
            x = np.stack([tok.prepare(v) for v in train])
            x_eval = torch.from_numpy(np.stack([tok.prepare(v) for v in held]))
            with torch.no_grad():
                before = float(torch.nn.functional.mse_loss(tok.model.decode(tok.model.encode(x_eval)), x_eval))
            settings = TrainSettings(steps=steps, batch_size=16, lr=5e-4, warmup_steps=25, log_every=25)
            train_dense_tokenizer(tok, tensor_batches(x, 16), settings, progress=False)
            with torch.no_grad():
                after = float(torch.nn.functional.mse_loss(tok.model.decode(tok.model.encode(x_eval)), x_eval))
            codes = np.concatenate([t.ravel() for t in tok.encode(list(train))])
            suffix = "" if replace else "_no_replacement"
            out[f"codebook_usage_pct{suffix}"] = round(100 * len(np.unique(codes)) / tok.vocab_size, 1)
            out[f"recon_loss_drop{suffix}"] = round(before / after, 2)
    finally:
        torch.set_num_threads(threads)
    out["usage_ratio_replacement_vs_not"] = round(
        out["codebook_usage_pct"] / max(out["codebook_usage_pct_no_replacement"], 1e-9), 2)
    out["train_steps"] = steps
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=64)
    parser.add_argument("--steps", type=int, default=200)
    args = parser.parse_args(argv)
    registry = Registry.build(allow=[])
    with tempfile.TemporaryDirectory() as tmp:
        figures = bench_tokenize(registry, args.images, Path(tmp))
    figures.update(bench_usage(registry, args.steps))
    json.dump(figures, sys.stdout)  # one line: benchmarks/run_all.py reads the last JSON line
    print()


if __name__ == "__main__":
    main()
