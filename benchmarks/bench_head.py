"""The output head in batch-1 decoding on CPU: ``linear`` over the V×d weight vs a row-major copy.

Baseline, in the same run: ``torch.nn.functional.linear(h, W)`` (what training uses).
Measured: ``h @ Wt`` with ``Wt`` the contiguous d×V copy that
:func:`fourm_registry.generation.fourm_adapter.row_major_head` makes once per cached decoding
loop. Figures: time per call and the speed-up, for a 4M caption vocabulary (30,000) at
tiny (d 256) and base (d 768) width, at 1 and 8 rows.

    .venv/bin/python benchmarks/bench_head.py --reps 30
"""
from __future__ import annotations

import argparse
import json

import torch
from torch.utils import benchmark


def per_call_ms(fn, reps: int) -> float:
    """Time per call over ``reps`` calls (torch.utils.benchmark: warm-up, fixed thread count)."""
    return benchmark.Timer("fn()", globals={"fn": fn}, num_threads=torch.get_num_threads()).timeit(reps).mean * 1e3


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
            w = torch.randn(args.vocab, dim) * 0.02
            wt = w.t().contiguous()
            for n in (1, 8):
                h = torch.randn(n, 1, dim)
                assert torch.allclose(h @ wt, torch.nn.functional.linear(h, w), atol=1e-4)
                base = per_call_ms(lambda h=h, w=w: torch.nn.functional.linear(h, w), args.reps)
                ours = per_call_ms(lambda h=h, wt=wt: h @ wt, args.reps)
                rows[f"d{dim}_rows{n}"] = {"linear_ms": round(base, 3), "row_major_ms": round(ours, 3),
                                           "speedup": round(base / ours, 2)}
    out = {"threads": torch.get_num_threads(), "vocab": args.vocab, "rows": rows,
           "targets": {"batch1_head_faster": {"value": rows["d256_rows1"]["speedup"], "target": "> 1",
                                              "met": rows["d256_rows1"]["speedup"] > 1}}}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
