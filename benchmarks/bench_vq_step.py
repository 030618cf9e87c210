"""One VQ-VAE training step at the demo's sizes: fp32 against bf16 autocast, and one process
at 2 threads against two side by side at 1 thread each (how the quickstart trains its four).

The model is the quickstart's rgb tokenizer (64 px, 8 px per token, channels 16/16/32/32,
256 codes, batch 16) on random images: the step's cost does not depend on the pixels.
Rounds alternate (abba). Prints steps per second of the machine for each way and the
ratios against fp32 at 2 threads in one process, the quickstart's way before it changed.

    .venv/bin/python benchmarks/bench_vq_step.py --reps 6
"""
from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import torch


def _tokenizer() -> Any:
    """The quickstart's own fresh rgb tokenizer, at the demo's settings."""
    from fourm_quickstart.run import Run
    from fourm_quickstart.settings import QuickstartSettings
    from fourm_quickstart.tokenizers import fresh_tokenizer
    from fourm_registry.registry import Registry

    s = QuickstartSettings()
    return fresh_tokenizer(Run(Path("unused"), s, Registry.build(allow=[])), "rgb"), s


def seconds_per_step(threads: int, bf16: bool, steps: int) -> float:
    """Median seconds of ``steps`` training steps (after one warm-up step)."""
    torch.set_num_threads(threads)
    torch.manual_seed(0)
    tok, s = _tokenizer()
    model = tok.model.train()
    x = torch.rand(s.vq_batch, 3, s.size, s.size)
    model.fit_standardization(x)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    times = []
    for _ in range(steps + 1):
        start = time.perf_counter()
        with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
            out = model(x)
        opt.zero_grad()
        out["loss"].backward()
        opt.step()
        times.append(time.perf_counter() - start)
    return statistics.median(times[1:])


def side_by_side(bf16: bool, steps: int) -> float:
    """Seconds per step of the machine with two 1-thread processes training at once."""
    with ProcessPoolExecutor(2, mp_context=mp.get_context("spawn")) as pool:
        pool.submit(seconds_per_step, 1, bf16, 1).result()  # start both workers, import torch
        jobs = [pool.submit(seconds_per_step, 1, bf16, steps) for _ in range(2)]
        each = [job.result() for job in jobs]
    return statistics.mean(each) / 2


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=4, help="rounds of each way")
    ap.add_argument("--steps", type=int, default=8, help="timed steps per round")
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    ways = {"fp32, 1 process x 2 threads": lambda: seconds_per_step(2, False, args.steps),
            "bf16, 1 process x 2 threads": lambda: seconds_per_step(2, True, args.steps),
            "fp32, 2 processes x 1 thread": lambda: side_by_side(False, args.steps),
            "bf16, 2 processes x 1 thread": lambda: side_by_side(True, args.steps)}
    names = list(ways)
    times: dict[str, list[float]] = {n: [] for n in names}
    for r in range(args.reps):
        for name in (names if r % 2 == 0 else names[::-1]):
            times[name].append(ways[name]())
    base = statistics.median(times[names[0]])
    rows = {n: {"s_per_step": round(statistics.median(t), 4), "speedup": round(base / statistics.median(t), 3)}
            for n, t in times.items()}
    for name, row in rows.items():
        print(f"{name:30s} {row['s_per_step']:.4f} s per step of the machine  {row['speedup']:.2f}x", flush=True)
    from fourm_registry.training.deepspeed_config import native_cpu_bf16

    result = {"native_cpu_bf16": native_cpu_bf16(), "rows": rows}
    if args.json:
        args.json.write_text(json.dumps(result))
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
