"""AdamW step time on CPU: torch's default (single-tensor loop) vs foreach vs fused.

Parameters shaped like the reference harness's tiny model (dim 256, 4+4 blocks, 4M
vocabularies: ~43 M parameters in ~100 tensors) or the base model (``--size base``).
Figures: median step time per implementation and the speed-up of the one
:class:`~fourm_registry.training.optim.GuardedAdamW` picks over torch's default.

    .venv/bin/python benchmarks/bench_optim.py --size tiny --steps 5
"""
from __future__ import annotations

import argparse
import json
import statistics
import time
from typing import Any

import torch

from fourm_registry.training.optim import GuardedAdamW, multi_tensor_kwargs

VOCABS = (16384, 8192, 30000)


def shapes(dim: int, depth: int) -> list[tuple[int, ...]]:
    hidden = int(2 * 4 * dim / 3)
    block = [(3 * dim, dim), (dim, dim), (hidden, dim), (dim, hidden), (hidden, dim), (dim,), (dim,)]
    dec = block + [(dim, dim), (2 * dim, dim), (dim, dim), (dim,), (dim,), (dim,)]
    emb = [(v, dim) for v in VOCABS] * 2 + [(1, 1, dim)] * 6
    return block * depth + dec * depth + emb + [(dim, dim), (dim,)]


def time_impl(params: list[torch.Tensor], kwargs: dict[str, Any], steps: int) -> list[float]:
    opt = torch.optim.AdamW(params, lr=1e-4, betas=(0.9, 0.95), weight_decay=0.05, **kwargs)
    opt.step()  # creates the state
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        opt.step()
        times.append(time.perf_counter() - t)
    return times


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="tiny", choices=["tiny", "base"])
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    dim, depth = (256, 4) if args.size == "tiny" else (768, 12)
    g = torch.Generator().manual_seed(0)
    params = [torch.nn.Parameter(torch.randn(s, generator=g) * 0.02) for s in shapes(dim, depth)]
    for p in params:
        p.grad = torch.randn(p.shape, generator=g) * 1e-3
    impls = {"single_tensor": {"foreach": False}, "foreach": {"foreach": True}, "fused": {"fused": True}}
    med = {k: statistics.median(time_impl(params, kw, args.steps)) for k, kw in impls.items()}
    picked = "fused" if multi_tensor_kwargs(params).get("fused") else "foreach"
    assert isinstance(GuardedAdamW(params, lr=1e-4).defaults.get(picked), bool)
    out = {"size": args.size, "params": sum(p.numel() for p in params), "tensors": len(params),
           "threads": torch.get_num_threads(), "step_s": {k: round(v, 4) for k, v in med.items()},
           "picked": picked, "speedup_picked_vs_default": round(med["single_tensor"] / med[picked], 2)}
    out["targets"] = {"adamw_faster_than_default": {"value": out["speedup_picked_vs_default"], "target": "> 1.0",
                                                    "met": out["speedup_picked_vs_default"] > 1.0}}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
