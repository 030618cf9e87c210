"""Generation speed on CPU: autoregressive caption decoding with vs. without the KV cache, and
MaskGIT images/s (196 tokens in 8 steps), for the tiny and base presets.

Prints one JSON dict. Every figure comes with its baseline from the same run: the cache
speed-up is cached tokens/s over uncached tokens/s (same model, same context, same greedy
tokens), and MaskGIT time is also given in units of one plain encode+decode forward pass.
Usage: ``python benchmarks/bench_generation.py [--presets tiny,base] [--tokens 128]``.
"""
from __future__ import annotations

import argparse
import json
import time
from typing import Any

import torch

from fourm_registry import Registry
from fourm_registry.batch import ModalityBatch
from fourm_registry.generation import Generator, parse_spec
from fourm_registry.generation.autoregressive import decode_sequence
from fourm_registry.generation.fourm_adapter import FourMPredictor
from fourm_registry.model import build_model

GRID, SEQ = "rgb", "caption"  # the benchmark's own choice of built-in modalities
OTHER_GRID = "depth"
SPEEDUP_TARGET = 5.0  # AR decoding of 128 tokens with the KV cache vs. without


def _timed(fn: Any, repeat: int = 1) -> float:
    best = float("inf")
    for _ in range(repeat):
        t = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t)
    return best


def bench_preset(preset: str, tokens: int, steps: int, registry: Registry, batch: int = 1) -> dict[str, float]:
    torch.manual_seed(0)
    model = build_model({"preset": preset}, registry, [GRID, OTHER_GRID, SEQ]).eval()
    pred = FourMPredictor(model)
    n = registry.get_modality(GRID).num_tokens
    cond = {GRID: ModalityBatch(inputs=torch.randint(0, 1000, (1, n)), input_mask=torch.ones(1, n, dtype=torch.bool))}
    out: dict[str, float] = {}
    with torch.no_grad():
        ctx = pred.encode({k: ModalityBatch(inputs=v.inputs.expand(batch, -1), input_mask=v.input_mask.expand(batch, -1))
                           for k, v in cond.items()})
        results = {}
        for cached in (True, False):
            def run(cached: bool = cached) -> None:
                dec = pred.sequence_decoder(ctx, SEQ, use_cache=cached)
                results[cached] = decode_sequence(dec, pred.sequence_start(SEQ), batch, tokens, set(), 0,
                                                  lambda _f: 0.0)
            out[f"{preset}_ar_tokens_per_s_{'cached' if cached else 'uncached'}"] = batch * tokens / _timed(run, repeat=3)
        assert results[True] == results[False], "cached and uncached decoding disagree"
        out[f"{preset}_ar_kv_cache_speedup"] = (out[f"{preset}_ar_tokens_per_s_cached"]
                                                / out[f"{preset}_ar_tokens_per_s_uncached"])
        gen = Generator(pred, registry)
        sched = parse_spec(f"{OTHER_GRID}:steps={steps},temperature=1")
        t_img = _timed(lambda: gen.generate(cond, sched, seed=0))
        pos = torch.arange(n)[None]
        t_fwd = _timed(lambda: pred.grid_logits(pred.encode(cond), OTHER_GRID, pos), repeat=3)
    out[f"{preset}_maskgit_images_per_s"] = 1.0 / t_img
    out[f"{preset}_maskgit_time_in_forward_passes"] = t_img / t_fwd
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--presets", default="tiny,base")
    ap.add_argument("--tokens", type=int, default=128)
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--batch", type=int, default=1, help="captions decoded together")
    ap.add_argument("--threads", type=int, default=None,
                    help="torch threads (default: torch's; 1 gives steadier figures on a busy machine)")
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    registry = Registry.build(allow=[])  # 224 px: 196 grid tokens; captions up to 256 tokens
    figures: dict[str, Any] = {"tokens": args.tokens, "maskgit_steps": args.steps,
                               "grid_tokens": registry.get_modality(GRID).num_tokens,
                               "ar_batch": args.batch, "torch_threads": torch.get_num_threads()}
    for preset in args.presets.split(","):
        figures.update(bench_preset(preset.strip(), args.tokens, args.steps, registry, args.batch))
    if args.batch == 1:  # for reference: at batch 1 the cached step is bound by reading the output layer
        batched = bench_preset("tiny", args.tokens, args.steps, registry, 8)
        figures.update({f"tiny_batch8_{k[5:]}": v for k, v in batched.items() if "_ar_" in k})
    figures = {k: (round(v, 3) if isinstance(v, float) else v) for k, v in figures.items()}
    figures["targets"] = {
        f"{p}_ar_kv_cache_speedup": {"value": figures[f"{p}_ar_kv_cache_speedup"], "target": SPEEDUP_TARGET,
                                     "met": figures[f"{p}_ar_kv_cache_speedup"] >= SPEEDUP_TARGET}
        for p in (x.strip() for x in args.presets.split(",")) if args.tokens >= 128}
    print(json.dumps(figures))  # one line: benchmarks/run_all.py reads the last JSON line


if __name__ == "__main__":
    main()
