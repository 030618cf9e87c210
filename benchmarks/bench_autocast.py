"""fp32 against bf16 autocast (``deepspeed.autocast: bf16``) for one training step, in one run.

Weights, gradients and AdamW stay fp32 either way; under autocast the linear layers run in
bf16 and attention stays fp32 on CPU (see ``fourm_registry.model.attention.attend``). Sizes:
``demo`` (the quickstart model: dim 192, 4+4 blocks, batch 32, 64 in / 64 out; the harness
vocabularies) and ``tiny`` (the reference harness's train case: dim 256, 4+4, batch 8,
128 in / 128 out). Rounds alternate fp32/bf16 (abba). Prints each median, the ratio
fp32 / bf16 (> 1: autocast is faster), and how far the first step's loss moves.

    .venv/bin/python benchmarks/bench_autocast.py --sizes demo,tiny --reps 6
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_model import synthetic_batch, train_step
from profile_train_step import harness_model

from fourm_registry.training.optim import GuardedAdamW

SIZES = {"demo": ({"dim": 192, "encoder_depth": 4, "decoder_depth": 4, "num_heads": 4}, 32, 64),
         "tiny": ({"dim": 256, "encoder_depth": 4, "decoder_depth": 4, "num_heads": 4}, 8, 128)}


def measure(size: str, reps: int) -> dict[str, Any]:
    cfg, batch_size, tokens = SIZES[size]
    registry, model = harness_model("tiny", **cfg)
    batch = synthetic_batch(registry, batch_size, tokens, tokens)
    opt = GuardedAdamW(model.parameters(), lr=1e-4)
    with torch.no_grad():
        ref = float(model(batch).loss)
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = float(model(batch).loss)
    for bf16 in (False, True):  # warm-up; creates the AdamW state
        train_step(model, opt, batch, bf16)
    times: dict[bool, list[float]] = {False: [], True: []}
    for r in range(reps):
        for bf16 in ((False, True) if r % 2 == 0 else (True, False)):
            times[bf16].append(train_step(model, opt, batch, bf16))
    fp32, bf16 = statistics.median(times[False]), statistics.median(times[True])
    return {"size": size, "batch": batch_size, "tokens_in_out": tokens, "fp32_s": round(fp32, 4),
            "autocast_bf16_s": round(bf16, 4), "ratio_fp32_over_bf16": round(fp32 / bf16, 3),
            "loss_rel_diff": abs(low - ref) / abs(ref)}


def main(argv: list[str] | None = None) -> list[dict[str, Any]]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="demo,tiny")
    ap.add_argument("--reps", type=int, default=6)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    rows = []
    for size in args.sizes.split(","):
        row = measure(size, args.reps)
        rows.append(row)
        print(f"{size:5s} fp32 {row['fp32_s']:.3f} s  autocast bf16 {row['autocast_bf16_s']:.3f} s  "
              f"ratio {row['ratio_fp32_over_bf16']:.2f}  first-step loss rel. diff {row['loss_rel_diff']:.1e}",
              flush=True)
    ratios = {r["size"]: r["ratio_fp32_over_bf16"] for r in rows}
    targets = {f"{size}_autocast_speedup": {"value": v, "target": 1.3, "met": v >= 1.3} for size, v in ratios.items()}
    result = {"rows": rows, "targets": targets}
    if args.json:
        args.json.write_text(json.dumps(result))
    print(json.dumps(result))
    return rows


if __name__ == "__main__":
    main()
