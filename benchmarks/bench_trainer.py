"""Training-step cost of the DeepSpeed engine against a plain torch AdamW loop on the same model.

For each preset (default: tiny and base) one process holds three copies of the same FourM
(same initial weights, same batches, same AdamW settings and gradient clipping):

- ``plain``: ``loss.backward(); clip_grad_norm_(…, 1.0); AdamW.step()`` — the baseline;
- ``deepspeed_default``: the engine exactly as ``fourm train`` configures it for this
  machine (one CPU process: ``zero_stage: auto`` → stage 0);
- ``deepspeed_zero2``: the same with ZeRO stage 2 forced.

Steps are interleaved in rounds so background load hits every variant alike; figures are
medians of wall-clock time per step (``*_time_ratio``) and of process CPU time per step
(``*_cpu_ratio``: with ``--threads 1`` it is insensitive to other processes on the machine).
Peak memory is each variant's peak RSS (two steps) in a child process of its own.
Prints one JSON dict: tokens/s, seconds per step, peak MB and ratios to ``plain``.

    python benchmarks/bench_trainer.py [--presets tiny,base] [--steps 3] [--rounds 3] [--threads 1]
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


def time_preset(preset: str, steps: int, rounds: int) -> dict[str, Any]:
    from fourm_registry.training.batching import count_tokens

    registry = setup()
    bs = BATCH[preset]
    batches = make_batches(registry, steps * rounds + 1, bs)
    runners = {v: build(preset, v, registry, bs) for v in VARIANTS}
    for runner in runners.values():  # warm-up (allocator, first-call costs)
        runner.step(batches[0])
    times: dict[str, list[float]] = {v: [] for v in VARIANTS}
    cpu: dict[str, list[float]] = {v: [] for v in VARIANTS}
    tokens = [count_tokens(b) for b in batches]
    for r in range(rounds):
        for v, runner in runners.items():
            for i in range(1 + r * steps, 1 + (r + 1) * steps):
                t, c = time.perf_counter(), time.process_time()
                runner.step(batches[i])
                times[v].append(time.perf_counter() - t)
                cpu[v].append(time.process_time() - c)
    per_step = {v: statistics.median(ts) for v, ts in times.items()}
    cpu_step = {v: statistics.median(ts) for v, ts in cpu.items()}
    tok = statistics.mean(tokens[1:])
    params = sum(p.numel() for p in runners["plain"].model.parameters())
    out: dict[str, Any] = {"params_M": round(params / 1e6, 2), "batch_size": bs, "tokens_per_step": tok,
                           "default_zero_stage": runners["deepspeed_default"].stage}
    for v in VARIANTS:
        out[f"{v}_s_per_step"] = round(per_step[v], 4)
        out[f"{v}_tokens_per_s"] = round(tok / per_step[v], 1)
        if v != "plain":
            out[f"{v}_time_ratio"] = round(per_step[v] / per_step["plain"], 3)
            out[f"{v}_cpu_ratio"] = round(cpu_step[v] / cpu_step["plain"], 3)
    return out


def memory_child(preset: str, variant: str, threads: int | None) -> None:
    """In a fresh process: build one variant, take two steps, print its peak RSS in MB."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    registry = setup()
    bs = BATCH[preset]
    batches = make_batches(registry, 2, bs)
    runner = build(preset, variant, registry, bs)
    for b in batches:
        runner.step(b)
    print(json.dumps({"peak_mb": peak_rss_mb()}))


def peak_rss_mb() -> float:
    """This process's peak RSS. ``VmHWM`` belongs to the process image (``ru_maxrss`` would
    carry the parent's peak across fork + exec)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_memory(preset: str, threads: int | None) -> dict[str, Any]:
    env = {k: v for k, v in os.environ.items() if k not in ("RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_PORT")}
    peaks = {}
    for v in VARIANTS:
        extra = ["--threads", str(threads)] if threads else []
        proc = subprocess.run([sys.executable, __file__, "--memory-child", preset, v, *extra], env=env,
                              capture_output=True, text=True, check=True)
        peaks[v] = json.loads(proc.stdout.strip().splitlines()[-1])["peak_mb"]
    out = {f"{v}_peak_mb": round(peaks[v], 1) for v in VARIANTS}
    out.update({f"{v}_memory_ratio": round(peaks[v] / peaks["plain"], 3) for v in VARIANTS if v != "plain"})
    return out


def main(argv: list[str] | None = None) -> dict[str, Any]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--presets", default="tiny,base")
    parser.add_argument("--steps", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1,
                        help="torch threads (0: torch's choice; 1 gives steady figures on a busy machine)")
    parser.add_argument("--no-memory", action="store_true")
    parser.add_argument("--memory-child", nargs=2, metavar=("PRESET", "VARIANT"))
    args = parser.parse_args(argv)
    if args.memory_child:
        memory_child(*args.memory_child, args.threads)
        return {}
    import torch

    if args.threads:
        torch.set_num_threads(args.threads)  # 0 keeps torch's choice
    result: dict[str, Any] = {"torch_threads": torch.get_num_threads()}
    targets = {}
    for preset in args.presets.split(","):
        figures = time_preset(preset, args.steps, args.rounds)
        if not args.no_memory:
            figures.update(measure_memory(preset, args.threads))
        result[preset] = figures
        ratio = figures["deepspeed_default_cpu_ratio"]  # CPU time: robust to other load
        targets[f"{preset}_engine_step_ratio"] = {"value": ratio, "target": TARGET_RATIO,
                                                  "met": ratio <= TARGET_RATIO}
    result["targets"] = targets
    print(json.dumps(result))  # one line: benchmarks/run_all.py reads the last JSON line
    return result


if __name__ == "__main__":
    main()
