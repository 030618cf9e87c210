"""``model.compile: true`` on CPU: cold-start cost and steady-state train-step time vs eager.

Two copies of the same model (harness sizes: ``tiny`` dim 256, 4+4 blocks; ``dev`` dim 64,
1+1), one compiled block by block (:func:`fourm_registry.model.blocks.compile_blocks`, what
the trainer does with ``model.compile``), one eager. Reported: the first step of each
(compiled: includes tracing and code generation), then the median of ``--steps``
interleaved steps, and after how many steps compiling pays back its cold start.

    .venv/bin/python benchmarks/bench_compile.py --size tiny --steps 5 --threads 2
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_model import synthetic_batch
from profile_train_step import SIZES, harness_model

from fourm_registry.model.blocks import compile_blocks
from fourm_registry.training.optim import GuardedAdamW


def timed_step(model: torch.nn.Module, opt: torch.optim.Optimizer, batch: Any) -> tuple[float, float]:
    t = time.perf_counter()
    opt.zero_grad(set_to_none=True)
    loss = model(batch).loss
    loss.backward()
    opt.step()
    return time.perf_counter() - t, float(loss.detach())


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="tiny", choices=list(SIZES))
    ap.add_argument("--steps", type=int, default=5)
    ap.add_argument("--batch", type=int, default=8)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    registry, eager = harness_model(args.size)
    eager.train()
    compiled = copy.deepcopy(eager)
    compile_blocks(compiled)
    models = {"eager": eager, "compiled": compiled}
    opts = {k: GuardedAdamW(m.parameters(), lr=1e-4) for k, m in models.items()}
    batch = synthetic_batch(registry, args.batch, 128, 128)
    first = {k: timed_step(m, opts[k], batch) for k, m in models.items()}
    times: dict[str, list[float]] = {k: [] for k in models}
    losses: dict[str, list[float]] = {k: [] for k in models}
    for _ in range(args.steps):
        for k, m in models.items():
            t, loss = timed_step(m, opts[k], batch)
            times[k].append(t)
            losses[k].append(loss)
    med = {k: statistics.median(v) for k, v in times.items()}
    gain = med["eager"] - med["compiled"]
    extra = first["compiled"][0] - first["eager"][0]
    out = {"size": args.size, "threads": torch.get_num_threads(), "batch": args.batch,
           "first_step_s": {k: round(v[0], 3) for k, v in first.items()},
           "cold_start_s": round(extra, 2), "step_s_median": {k: round(v, 4) for k, v in med.items()},
           "speedup": round(med["eager"] / med["compiled"], 3),
           "steps_to_pay_back": round(extra / gain) if gain > 0 else None,
           "loss_max_abs_diff": round(max(abs(a - b) for a, b in zip(losses["eager"], losses["compiled"])), 6)}
    out["targets"] = {"compiled_matches_eager_loss": {"value": out["loss_max_abs_diff"], "target": "< 1e-3",
                                                      "met": out["loss_max_abs_diff"] < 1e-3}}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
