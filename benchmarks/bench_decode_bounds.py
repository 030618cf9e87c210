"""How close fourm's generation runs to this machine's limits: caption decoding against the
time to stream its weights once per token, MaskGIT against the matmul peak.

Why: a ratio against the reference says how much faster fourm is; it cannot say how much faster
anything could be. Batch-1 caption decoding with a KV cache reads every decoder weight and the
output head once per token and does little arithmetic with them, so its floor is the time of one
matrix-vector product through each of those weights. MaskGIT runs full encoder and decoder
passes, so its floor is its FLOPs at the matmul rate. Both floors are measured in the same run,
on the same weights (caption) or the same thread count (MaskGIT).

Figures per size (4M's vocabularies, rgb 16,384 / depth 8,192 / caption 30,000, 196 cells):
- ``caption``: per-token time after the encoder, the streaming floor (the same matrix-vector
  products, nothing else), its bandwidth, and ``share`` = floor / fourm;
- ``maskgit``: time, FLOPs (counted with explicit-matmul attention, so attention is included),
  and ``share`` = FLOP/s / the 2048³ matmul probe.
The best ratio against a reference that takes R seconds is R / floor time.

    .venv/bin/python benchmarks/bench_decode_bounds.py --sizes tiny,base --reps 3
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch.utils.flop_counter import FlopCounterMode

sys.path.insert(0, str(Path(__file__).parent))
from bench_model import matmul_flops_per_s, set_attention
from profile_train_step import SIZES, harness_model

from fourm_registry.batch import ModalityBatch
from fourm_registry.generation import Generator, parse_spec
from fourm_registry.generation.autoregressive import decode_sequence
from fourm_registry.generation.fourm_adapter import FourMPredictor, row_major_head

CELLS = 196


def median_s(fn: Callable[[], object], reps: int) -> float:
    fn()  # warm-up
    times = []
    for _ in range(reps):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return statistics.median(times)


def rgb_condition() -> dict[str, ModalityBatch]:
    rgb = torch.randint(0, 16384, (1, CELLS), generator=torch.Generator().manual_seed(1))
    return {"rgb": ModalityBatch(inputs=rgb, input_mask=torch.ones_like(rgb, dtype=torch.bool))}


def streamed_per_token(model: torch.nn.Module) -> list[torch.Tensor]:
    """The weight matrices one cached decoding step multiplies a single row by: every decoder
    block's matrices except the cross-attention key/value projection (applied to the encoder's
    output once, then cached), and the caption head as the row-major copy decoding uses."""
    mats = [p.detach() for name, p in model.decoder.named_parameters()
            if p.dim() == 2 and "cross_attn.kv" not in name]
    head = row_major_head(model, "caption")
    return mats + [head if head is not None else model.decoder_embeddings["caption"].to_logits.weight.detach().t()]


def caption_row(model: torch.nn.Module, tokens: int, reps: int) -> dict:
    pred, cond = FourMPredictor(model), rgb_condition()

    def encode():
        return pred.encode(cond)

    def caption():
        dec = pred.sequence_decoder(encode(), "caption")
        return decode_sequence(dec, pred.sequence_start("caption"), 1, tokens, set(), pred.pad_id("caption"),
                               lambda _f: 0.0)

    mats = streamed_per_token(model)
    *blocks, head = mats
    rows = [torch.randn(1, 1, w.shape[1]) for w in blocks]
    x = torch.randn(1, 1, head.shape[0])

    def stream():  # one row through every matrix: matvecs only, no attention, norms or Python model code
        for r, w in zip(rows, blocks):
            torch.nn.functional.linear(r, w)
        x @ head

    with torch.no_grad():
        assert len(caption()[0]) == tokens
        total, enc, floor = median_s(caption, reps), median_s(encode, reps), median_s(stream, reps)
    per_token = (total - enc) / tokens
    mbytes = sum(w.numel() * w.element_size() for w in mats) / 1e6
    return {"tokens": tokens, "total_s": round(total, 4), "encode_s": round(enc, 4),
            "per_token_ms": round(per_token * 1e3, 3), "floor_ms": round(floor * 1e3, 3),
            "streamed_mb": round(mbytes, 1), "floor_gb_per_s": round(mbytes / 1e3 / floor, 1),
            "best_total_s": round(enc + tokens * floor, 4), "share": round(floor / per_token, 3)}


def maskgit_row(model: torch.nn.Module, registry: object, steps: int, reps: int, peak: float) -> dict:
    gen, cond = Generator(FourMPredictor(model), registry), rgb_condition()
    schedule = parse_spec(f"depth:steps={steps},temperature=1.0,token_schedule=linear,temperature_schedule=constant")

    def run():
        return gen.generate(cond, schedule, seed=0)

    with torch.no_grad():
        seconds = median_s(run, reps)
        set_attention(model, "math")  # counted as explicit matmuls: FlopCounterMode skips CPU SDPA kernels
        try:
            with FlopCounterMode(display=False) as counter:
                run()
        finally:
            set_attention(model, "sdpa")
    flops = counter.get_total_flops()
    return {"steps": steps, "seconds": round(seconds, 4), "gflops": round(flops / 1e9, 2),
            "gflop_per_s": round(flops / seconds / 1e9, 1), "share": round(flops / seconds / peak, 3),
            "best_s": round(flops / peak, 4)}


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--sizes", default="tiny,base", help=f"comma-separated, of {', '.join(SIZES)}")
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--tokens", type=int, default=64, help="caption tokens decoded")
    ap.add_argument("--maskgit-steps", type=int, default=8)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    peak = matmul_flops_per_s()
    rows = {}
    for name in args.sizes.split(","):
        registry, model = harness_model(name)
        model.eval()
        rows[name] = {"caption": caption_row(model, args.tokens, args.reps),
                      "maskgit": maskgit_row(model, registry, args.maskgit_steps, args.reps, peak)}
        del model
    out = {"threads": torch.get_num_threads(), "matmul_gflop_per_s": round(peak / 1e9, 1), "rows": rows,
           "targets": {f"{n}_caption_within_15pct_of_stream_floor": {
               "value": r["caption"]["share"], "target": ">= 0.85", "met": r["caption"]["share"] >= 0.85}
               for n, r in rows.items() if n != "dev"}}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
