"""The output head in batch-1 decoding on CPU: ``linear`` over the V×d weight vs a row-major copy.

Baseline, in the same run: ``torch.nn.functional.linear(h, W)`` (what training uses).
Measured: :func:`fourm_registry.model.embeddings.head_logits` (``h @ Wᵀ`` over a contiguous
d×V copy, made once). Figures: median time per call and the speed-up, for a 4M caption
vocabulary (30,000) at tiny (d 256) and base (d 768) width, at 1 and 8 rows.

    .venv/bin/python benchmarks/bench_head.py --reps 30
"""
from __future__ import annotations

import argparse
import json
import statistics
import time

import torch
from torch import nn

from fourm_registry.model.embeddings import head_logits


def median_ms(fn, reps: int) -> float:
    for _ in range(3):
        fn()
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times) * 1e3


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=30)
    ap.add_argument("--threads", type=int, default=0)
    ap.add_argument("--vocab", type=int, default=30000)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = {}
    with torch.no_grad():
        for dim in (256, 768):
            holder = nn.Module()
            holder.to_logits = nn.Linear(dim, args.vocab, bias=False)
            for n in (1, 8):
                h = torch.randn(n, 1, dim)
                assert torch.allclose(head_logits(holder, h), holder.to_logits(h), atol=1e-4)
                base = median_ms(lambda: nn.functional.linear(h, holder.to_logits.weight), args.reps)
                ours = median_ms(lambda: head_logits(holder, h), args.reps)
                rows[f"d{dim}_rows{n}"] = {"linear_ms": round(base, 3), "head_logits_ms": round(ours, 3),
                                           "speedup": round(base / ours, 2)}
    out = {"threads": torch.get_num_threads(), "vocab": args.vocab, "rows": rows,
           "targets": {"batch1_head_faster": {"value": rows["d256_rows1"]["speedup"], "target": "> 1",
                                              "met": rows["d256_rows1"]["speedup"] > 1}}}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
