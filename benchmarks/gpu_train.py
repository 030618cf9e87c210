"""Training throughput on one GPU: base and large presets, bf16, DeepSpeed ZeRO-2, activation checkpointing.

Each preset is trained through the project's own engine (``build_engine``, what ``fourm
train`` runs) on 4M-shaped synthetic batches (``--input-tokens``/``--target-tokens`` per
sample). Reported per preset: step time, tokens/s, MFU (model matmul FLOPs per second over
the device's dense bf16 peak, ``--peak-tflops`` or looked up from the device name; recompute
from checkpointing is not counted), peak memory, and the largest micro-batch that fits
(doubling from ``--batch`` until out of memory, up to ``--max-batch``).

Without a GPU, ``--device cpu`` runs the same path in fp32 (tested by tests/test_gpu_train_script.py),
with the peak taken from a 2048³ matmul probe.

    python benchmarks/gpu_train.py --presets base,large --batch 32 --steps 10          # on a GPU
    python benchmarks/gpu_train.py --device cpu --presets dev --batch 1 --max-batch 2 --steps 1
"""
from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).parent))
from bench_model import MODALITIES, matmul_flops_per_s, synthetic_batch

# Dense bf16 tensor-core peaks (TFLOP/s, no sparsity) by device-name fragment, from the vendors' sheets.
BF16_PEAK_TFLOPS = {"H200": 989.0, "H100 SXM": 989.0, "H100 PCIe": 756.0, "H100": 989.0, "A100": 312.0,
                    "L40S": 362.0, "L4": 121.0, "A10G": 125.0, "RTX 4090": 165.0, "V100": 125.0}
SIZES = {"dev": {"dim": 64, "encoder_depth": 1, "decoder_depth": 1, "num_heads": 4}}


def peak_flops(device: torch.device, given: float | None) -> tuple[float, str]:
    if given:
        return given * 1e12, "--peak-tflops"
    if device.type == "cuda":
        name = torch.cuda.get_device_name(device)
        for key, tflops in BF16_PEAK_TFLOPS.items():
            if key in name:
                return tflops * 1e12, f"bf16 datasheet peak of {key}"
        raise SystemExit(f"unknown GPU {name!r}: pass --peak-tflops")
    return matmul_flops_per_s(), "fp32 2048^3 matmul probe"


def model_config(preset: str) -> dict[str, Any]:
    """A 4M preset, or a custom size from ``SIZES``; checkpointing is DeepSpeed's, as in the trainer."""
    return dict(SIZES.get(preset, {"preset": preset}))


def step_flops(model: torch.nn.Module, batch: Any) -> int:
    """Matmul FLOPs of forward + backward, counted with explicit-matmul attention (SDPA kernels
    are not seen by the counter on every device)."""
    impls = {m: m.impl for m in model.modules() if hasattr(m, "impl")}
    for m in impls:
        m.impl = "math"
    with FlopCounterMode(display=False) as counter:
        model(batch).loss.backward()
    for m, impl in impls.items():
        m.impl = impl
    model.zero_grad(set_to_none=True)
    return counter.get_total_flops()


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def peak_memory_gib(device: torch.device) -> float:
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**30
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20


def is_oom(err: BaseException) -> bool:
    return isinstance(err, torch.OutOfMemoryError) or "out of memory" in str(err).lower()


def bench_preset(preset: str, args: argparse.Namespace, registry: Any, device: torch.device,
                 peak: float) -> dict[str, Any]:
    from fourm_registry.model import build_model
    from fourm_registry.training.build import enable_activation_checkpointing
    from fourm_registry.training.config import DeepSpeedSection
    from fourm_registry.training.engine import build_engine

    torch.manual_seed(0)
    model = build_model(model_config(preset), registry, MODALITIES).to(device)
    one = synthetic_batch(registry, 1, args.input_tokens, args.target_tokens)
    flops_per_sample = step_flops(model, {k: v.to(device) for k, v in one.items()})
    bf16 = device.type == "cuda"
    section = DeepSpeedSection(zero_stage=2, bf16="on" if bf16 else "off",
                               activation_checkpointing=args.act_checkpoint)
    parts = build_engine(model, section, lr=1e-4, micro_batch=args.batch, world_size=1, device=device)
    if args.act_checkpoint:
        enable_activation_checkpointing(parts.engine.module, parts.config)
    rows, batch_size = [], args.batch
    while batch_size <= args.max_batch:
        batch = {k: v.to(device) for k, v in synthetic_batch(registry, batch_size, args.input_tokens,
                                                              args.target_tokens, seed=batch_size).items()}
        if device.type == "cuda":
            torch.cuda.reset_peak_memory_stats(device)
        try:
            parts.step(batch)  # warm-up
            times = []
            for _ in range(args.steps):
                sync(device)
                t = time.perf_counter()
                parts.step(batch)
                sync(device)
                times.append(time.perf_counter() - t)
        except (RuntimeError, torch.OutOfMemoryError) as err:
            if not is_oom(err):
                raise
            if device.type == "cuda":
                torch.cuda.empty_cache()
            break
        step_s = statistics.median(times)
        tokens = batch_size * (args.input_tokens + args.target_tokens)
        rows.append({"batch": batch_size, "step_s": round(step_s, 4), "tokens_per_s": round(tokens / step_s, 1),
                     "mfu": round(flops_per_sample * batch_size / step_s / peak, 4),
                     "peak_memory_gib": round(peak_memory_gib(device), 2)})
        if not args.search:
            break
        batch_size *= 2
    best = max(rows, key=lambda r: r["mfu"]) if rows else None
    return {"params_M": round(sum(p.numel() for p in model.parameters()) / 1e6, 1),
            "zero_stage": parts.config["zero_optimization"]["stage"], "bf16": bf16,
            "activation_checkpointing": args.act_checkpoint, "train_gflop_per_sample": round(flops_per_sample / 1e9, 2),
            "largest_batch": rows[-1]["batch"] if rows else None, "best": best, "runs": rows}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="base,large")
    ap.add_argument("--device", default="auto", choices=["auto", "cuda", "cpu"])
    ap.add_argument("--batch", type=int, default=16, help="first micro-batch tried")
    ap.add_argument("--max-batch", type=int, default=1024)
    ap.add_argument("--no-search", dest="search", action="store_false", help="time --batch only")
    ap.add_argument("--steps", type=int, default=10)
    ap.add_argument("--input-tokens", type=int, default=256)
    ap.add_argument("--target-tokens", type=int, default=256)
    ap.add_argument("--no-act-checkpoint", dest="act_checkpoint", action="store_false")
    ap.add_argument("--peak-tflops", type=float, default=None)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    from fourm_registry import Registry
    from fourm_registry.training.launch import init_distributed

    want = "cuda" if args.device == "auto" and torch.cuda.is_available() else args.device
    want = "cpu" if want == "auto" else want
    dist = init_distributed(device=want)
    device = dist.device
    peak, peak_src = peak_flops(device, args.peak_tflops)
    registry = Registry.build(allow=[])
    out: dict[str, Any] = {"device": torch.cuda.get_device_name(device) if device.type == "cuda" else "cpu",
                           "peak_tflops": round(peak / 1e12, 3), "peak_source": peak_src,
                           "tokens_per_sample": args.input_tokens + args.target_tokens}
    for preset in args.presets.split(","):
        out[preset] = bench_preset(preset, args, registry, device, peak)
    base = out.get("base", {}).get("best")
    out["targets"] = {"base_mfu": {"value": base["mfu"] if base else None, "target": ">= 0.40",
                                   "met": bool(base and device.type == "cuda" and base["mfu"] >= 0.40)}}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
