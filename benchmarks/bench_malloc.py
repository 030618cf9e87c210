"""glibc's default malloc against fourm's tuning (``fourm_registry.allocator``) for one training step,
and the deterministic mode's NaN fill of new tensors on and off (``fourm_registry.determinism``).

Each way runs in its own process (the settings are process-wide), with deterministic algorithms
on as in the quickstart: the quickstart's model size
(dim 192, 4+4 blocks, batch 32, 64 in / 64 out, the harness vocabularies), fused AdamW, bf16
autocast where the CPU has native bf16 (fp32 elsewhere). Rounds alternate (abba). Prints the
median step, the kernel (sys) time and minor page faults per step, and the ratio.

    .venv/bin/python benchmarks/bench_malloc.py --reps 4
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
from pathlib import Path
from typing import Any


def child(steps: int, fill: bool) -> dict[str, float]:
    """Time ``steps`` steps in this process, with whatever allocator it was started with."""
    from fourm_registry.allocator import tune_malloc

    tuned = tune_malloc()
    import torch

    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.utils.deterministic.fill_uninitialized_memory = fill

    sys.path.insert(0, str(Path(__file__).parent))
    from bench_model import synthetic_batch, train_step
    from profile_train_step import harness_model

    from fourm_registry.training.deepspeed_config import native_cpu_bf16
    from fourm_registry.training.optim import GuardedAdamW

    torch.set_num_threads(2)
    registry, model = harness_model("tiny", dim=192, encoder_depth=4, decoder_depth=4, num_heads=4)
    batch = synthetic_batch(registry, 32, 64, 64)
    opt = GuardedAdamW(model.parameters(), lr=1e-4)
    bf16 = native_cpu_bf16()
    for _ in range(2):
        train_step(model, opt, batch, bf16)
    before = resource.getrusage(resource.RUSAGE_SELF)
    times = [train_step(model, opt, batch, bf16) for _ in range(steps)]
    after = resource.getrusage(resource.RUSAGE_SELF)
    return {"tuned": tuned, "bf16": bf16, "s_per_step": statistics.median(times),
            "sys_s_per_step": (after.ru_stime - before.ru_stime) / steps,
            "minor_faults_per_step": (after.ru_minflt - before.ru_minflt) / steps,
            "max_rss_mib": after.ru_maxrss / 1024}


WAYS = {"glibc, NaN fill": ("system", True), "tuned, NaN fill": ("tuned", True),
        "tuned, no fill": ("tuned", False)}  # the quickstart before 2026-12-02, in between, now


def run(way: str, steps: int) -> dict[str, float]:
    malloc, fill = WAYS[way]
    env = {**os.environ, "FOURM_MALLOC": malloc}
    out = subprocess.run([sys.executable, __file__, "--child", str(steps)] + (["--fill"] if fill else []),
                         env=env, check=True, capture_output=True, text=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--steps", type=int, default=12)
    ap.add_argument("--child", type=int, help=argparse.SUPPRESS)
    ap.add_argument("--fill", action="store_true", help=argparse.SUPPRESS)
    ap.add_argument("--json", type=Path)
    args = ap.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.fill)))
        return {}
    names = list(WAYS)
    rounds: dict[str, list[dict[str, float]]] = {n: [] for n in names}
    for r in range(args.reps):
        for way in (names if r % 2 == 0 else names[::-1]):
            rounds[way].append(run(way, args.steps))
    rows = {way: {k: round(statistics.median(x[k] for x in rs), 4) for k in rs[0] if k not in ("tuned", "bf16")}
            for way, rs in rounds.items()}
    base = rows[names[0]]["s_per_step"]
    for way, row in rows.items():
        row["speedup"] = round(base / row["s_per_step"], 3)
        print(f"{way:16s} {row['s_per_step']:.3f} s/step ({row['speedup']:.2f}x)  sys {row['sys_s_per_step']:.3f} s/step  "
              f"{row['minor_faults_per_step']:,.0f} minor faults/step  peak RSS {row['max_rss_mib']:,.0f} MiB", flush=True)
    took = all(x["tuned"] for way in names[1:] for x in rounds[way])
    ratio = rows[names[-1]]["speedup"]
    result = {"rows": rows, "tuning_took_effect": took, "bf16": rounds[names[0]][0]["bf16"],
              "targets": {"malloc_and_fill_speedup": {"value": ratio, "target": 1.0, "met": ratio >= 1.0}}}
    if args.json:
        args.json.write_text(json.dumps(result))
    print(json.dumps(result))
    return result


if __name__ == "__main__":
    main()
