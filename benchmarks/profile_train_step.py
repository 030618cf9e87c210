"""Where a CPU training step spends its time outside the matmuls (torch.profiler, by op).

Builds the model at the reference harness's sizes (``tiny``: dim 256, 4+4 blocks; ``base``:
dim 768, 12+12), one 4M-shaped batch, and profiles a few forward+backward+AdamW steps. Prints
the top ops by self CPU time and the share of matmul ops (mm/addmm/bmm/SDPA kernels) vs the rest.

    .venv/bin/python benchmarks/profile_train_step.py --size tiny --threads 1
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import torch
from torch.profiler import ProfilerActivity, profile

sys.path.insert(0, str(Path(__file__).parent))
from bench_model import MODALITIES, synthetic_batch

from fourm_registry import Registry
from fourm_registry.model import build_model

SIZES = {"dev": {"dim": 64, "encoder_depth": 1, "decoder_depth": 1, "num_heads": 4},
         "tiny": {"dim": 256, "encoder_depth": 4, "decoder_depth": 4, "num_heads": 4},
         "base": {"dim": 768, "encoder_depth": 12, "decoder_depth": 12, "num_heads": 12}}
MATMUL_OPS = ("aten::mm", "aten::addmm", "aten::bmm", "aten::baddbmm", "aten::_scaled_dot_product_flash_attention_for_cpu",
              "aten::_scaled_dot_product_flash_attention_for_cpu_backward")


def harness_model(size: str, modalities: list[str] = MODALITIES, **cfg: Any) -> tuple[Registry, Any]:
    """The built-in registry and a seeded model of the reference harness's ``size`` (untied heads)."""
    registry = Registry.build(allow=[])
    torch.manual_seed(0)
    return registry, build_model({**SIZES[size], "tie_sequence_embeddings": False, **cfg}, registry, modalities)


def profile_steps(size: str, steps: int, attention: str, batch_size: int, foreach_optim: bool) -> dict[str, Any]:
    registry, model = harness_model(size, attention=attention)
    model.train()
    opt = torch.optim.AdamW(model.parameters(), lr=1e-4, **({"fused": True} if foreach_optim else {}))
    batch = synthetic_batch(registry, batch_size, 128, 128)

    def step() -> None:
        opt.zero_grad(set_to_none=True)
        model(batch).loss.backward()
        opt.step()

    step()
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(steps):
            step()
    rows = [(e.key, e.self_cpu_time_total / steps / 1e3, e.count // steps) for e in prof.key_averages()]
    rows.sort(key=lambda r: -r[1])
    total = sum(r[1] for r in rows)
    mat = sum(r[1] for r in rows if r[0] in MATMUL_OPS)
    return {"size": size, "attention": attention, "threads": torch.get_num_threads(),
            "step_ms_self_total": round(total, 1), "matmul_share": round(mat / total, 3),
            "top": [(k, round(ms, 2), n) for k, ms, n in rows[:25]]}


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="tiny", choices=list(SIZES))
    ap.add_argument("--steps", type=int, default=3)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--attention", default="sdpa")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--fused-adamw", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    out = profile_steps(args.size, args.steps, args.attention, args.batch, args.fused_adamw)
    for key, ms, n in out["top"]:
        print(f"{ms:9.2f} ms  x{n:<5d} {key}")
    print(f"self total {out['step_ms_self_total']} ms/step; matmul share {out['matmul_share']}")
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
