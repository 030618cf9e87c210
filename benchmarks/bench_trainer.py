"""Training-step cost of the DeepSpeed engine against a plain torch AdamW loop on the same model.

For each preset (default: tiny and base) three variants train the same FourM (same initial
weights, same batches, same AdamW settings and gradient clipping), each in child processes
of its own (so peak memory is its own and three models never share the machine's RAM),
alternating over ``--rounds`` so that drifting background load hits every variant alike:

- ``plain``: ``loss.backward(); clip_grad_norm_(…, 1.0); AdamW.step()`` — the baseline;
- ``deepspeed_default``: the engine exactly as ``fourm train`` configures it for this
  machine (one CPU process: ``zero_stage: auto`` → stage 0);
- ``deepspeed_zero2``: the same with ZeRO stage 2 forced.

Figures per variant: median wall seconds and tokens/s per step, peak RSS (warm-up and timed
steps). Ratios to ``plain`` are medians of per-step ratios (step i of every variant trains
on the same batch): ``*_time_ratio`` from wall time, ``*_cpu_ratio`` from process CPU time,
which with ``--threads 1`` (the default) is insensitive to other processes on a busy
machine — the target is checked on it. Prints one JSON line with ``targets``.

    python benchmarks/bench_trainer.py [--presets tiny,base] [--steps 2] [--rounds 2] [--threads 1]
"""
from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import time
from typing import Any

VARIANTS = ("plain", "deepspeed_default", "deepspeed_zero2")
TARGET_RATIO = 1.15  # engine step time / plain AdamW step time, as configured by default
BATCH = {"tiny": 8, "small": 8, "base": 4, "large": 2, "xlarge": 1}
MODALITIES = ["rgb", "depth", "caption"]


def make_batches(registry: Any, n: int, batch_size: int, seed: int = 0) -> list[Any]:
    """Masked, collated batches of random tokens (4M budgets: 128 input, 128 target tokens)."""
    import numpy as np

    from fourm_registry.data import collate
    from fourm_registry.masking import Masker, MaskingConfig

    specs = registry.select(MODALITIES)
    masker = Masker(MaskingConfig(input_tokens=128, target_tokens=128), specs)
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(n):
        samples = []
        for _ in range(batch_size):
            raw = {s.name: (rng.integers(204, 2000, int(rng.integers(8, 40))) if s.kind.value == "sequence"
                            else rng.integers(0, s.tokenizer.vocab_size, s.num_tokens)) for s in specs}
            samples.append(masker(raw, rng))
        out.append(collate(samples))
    return out


class Plain:
    def __init__(self, model: Any, lr: float):
        import torch

        from fourm_registry.training.optim import param_groups

        self.model = model
        self.opt = torch.optim.AdamW(param_groups(model, 0.05), lr=lr, betas=(0.9, 0.95))

    def step(self, batch: Any) -> float:
        import torch

        loss = self.model(batch).loss
        self.opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(self.model.parameters(), 1.0)
        self.opt.step()
        return float(loss.detach())


class Engine:
    """One DeepSpeed step as the trainer takes it (``build_engine`` + ``EngineParts.step``)."""

    def __init__(self, model: Any, lr: float, stage: str | int, batch_size: int):
        import torch

        from fourm_registry.training.config import DeepSpeedSection
        from fourm_registry.training.engine import build_engine

        self.parts = build_engine(model, DeepSpeedSection(zero_stage=stage), lr=lr, micro_batch=batch_size,
                                  world_size=1, device=torch.device("cpu"))
        self.stage = self.parts.config["zero_optimization"]["stage"]

    def step(self, batch: Any) -> float:
        return float(self.parts.step(batch).loss.detach())


def build(preset: str, variant: str, registry: Any, batch_size: int) -> Any:
    import torch

    from fourm_registry.model import build_model

    torch.manual_seed(0)
    model = build_model({"preset": preset}, registry, MODALITIES)
    if variant == "plain":
        return Plain(model, 1e-4)
    return Engine(model, 1e-4, "auto" if variant == "deepspeed_default" else 2, batch_size)


def setup() -> Any:
    from fourm_registry import Registry
    from fourm_registry.training.launch import init_distributed

    init_distributed(device="cpu")
    return Registry.build(allow=[])


def child(preset: str, variant: str, steps: int) -> dict[str, Any]:
    """Build one variant, take a warm-up step and ``steps`` timed steps; report its figures."""
    from fourm_registry.training.batching import count_tokens

    registry = setup()
    bs = BATCH[preset]
    batches = make_batches(registry, steps + 1, bs)
    runner = build(preset, variant, registry, bs)
    runner.step(batches[0])
    wall, cpu = [], []
    for batch in batches[1:]:
        t, c = time.perf_counter(), time.process_time()
        runner.step(batch)
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    model = runner.model if variant == "plain" else runner.parts.engine.module
    return {"wall": wall, "cpu": cpu, "s_per_step": statistics.median(wall),
            "tokens_per_step": statistics.mean(count_tokens(b) for b in batches[1:]),
            "peak_mb": peak_rss_mb(), "params_M": sum(p.numel() for p in model.parameters()) / 1e6,
            "zero_stage": None if variant == "plain" else runner.stage}


def peak_rss_mb() -> float:
    """This process's peak RSS. ``VmHWM`` belongs to the process image (``ru_maxrss`` would
    carry the parent's peak across fork + exec)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def run_child(preset: str, variant: str, steps: int, threads: int) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")}
    proc = subprocess.run([sys.executable, __file__, "--child", preset, variant, "--steps", str(steps),
                           "--threads", str(threads)], env=env, capture_output=True, text=True)
    if proc.returncode != 0:
        raise RuntimeError(f"{preset}/{variant} failed: {proc.stderr[-2000:]}")
    return json.loads([ln for ln in proc.stdout.splitlines() if ln.startswith("{")][-1])


def bench_preset(preset: str, steps: int, rounds: int, threads: int) -> dict[str, Any]:
    """``rounds`` × (one child per variant), alternating, so drifting background load is shared."""
    runs: dict[str, list[dict[str, Any]]] = {v: [] for v in VARIANTS}
    for _ in range(rounds):
        for v in VARIANTS:
            runs[v].append(run_child(preset, v, steps, threads))
    plain = runs["plain"]
    first = plain[0]
    out: dict[str, Any] = {"params_M": round(first["params_M"], 2), "batch_size": BATCH[preset],
                           "tokens_per_step": round(first["tokens_per_step"], 1),
                           "default_zero_stage": runs["deepspeed_default"][0]["zero_stage"]}
    for v, rs in runs.items():
        wall = statistics.median(t for r in rs for t in r["wall"])
        out[f"{v}_s_per_step"] = round(wall, 4)
        out[f"{v}_tokens_per_s"] = round(first["tokens_per_step"] / wall, 1)
        out[f"{v}_peak_mb"] = round(max(r["peak_mb"] for r in rs), 1)
        if v == "plain":
            continue
        for key, name in (("wall", "time"), ("cpu", "cpu")):  # step i: the same batch in every run
            pairs = [a / b for r, p in zip(rs, plain) for a, b in zip(r[key], p[key])]
            out[f"{v}_{name}_ratio"] = round(statistics.median(pairs), 3)
        out[f"{v}_memory_ratio"] = round(out[f"{v}_peak_mb"] / out["plain_peak_mb"], 3)
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", default="tiny,base")
    parser.add_argument("--steps", type=int, default=2, help="timed steps per child run")
    parser.add_argument("--rounds", type=int, default=2, help="child runs per variant, alternating")
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (0: torch's choice; 1 gives steady figures on a busy machine)")
    parser.add_argument("--child", nargs=2, metavar=("PRESET", "VARIANT"), help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)  # 0 keeps torch's choice
    if args.child:
        figures = child(*args.child, args.steps)
        print(json.dumps(figures))
        return figures
    result: dict[str, Any] = {"torch_threads": torch.get_num_threads(), "timed_steps": args.steps,
                              "rounds": args.rounds}
    targets = {}
    for preset in args.presets.split(","):
        figures = bench_preset(preset.strip(), args.steps, args.rounds, args.threads)
        result[preset] = figures
        ratio = figures["deepspeed_default_cpu_ratio"]
        targets[f"{preset}_engine_step_ratio"] = {"value": ratio, "target": TARGET_RATIO,
                                                  "met": ratio <= TARGET_RATIO}
    result["targets"] = targets
    print(json.dumps(result))  # one line: benchmarks/run_all.py reads the last JSON line
    return result


if __name__ == "__main__":
    main()
