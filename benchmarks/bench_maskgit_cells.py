"""MaskGIT with the decoder on the unknown cells only (what fourm runs) vs on every cell (the former path).

Harness sizes (``tiny``: dim 256, 4+4 blocks; ``base``: dim 768, 12+12), 4M vocabularies,
196 rgb tokens → 196 depth tokens in ``--steps`` steps, seeded, batch 1. The baseline
predictor runs all 196 cells as decoder queries every step and gathers the wanted logits;
both give the same grid (checked). Figures: best of ``--reps`` interleaved runs and the speed-up.

    .venv/bin/python benchmarks/bench_maskgit_cells.py --size tiny --threads 1
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).parent))
from profile_train_step import SIZES, harness_model

from fourm_registry.batch import ModalityBatch
from fourm_registry.generation import Generator, parse_spec
from fourm_registry.generation.fourm_adapter import FourMPredictor


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", default="tiny", choices=list(SIZES))
    ap.add_argument("--steps", type=int, default=8)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)
    if args.threads:
        torch.set_num_threads(args.threads)
    registry, model = harness_model(args.size, ["rgb", "depth", "caption"])
    model.eval()
    cond = {"rgb": ModalityBatch(inputs=torch.randint(0, 16384, (1, 196)),
                                 input_mask=torch.ones(1, 196, dtype=torch.bool))}
    spec = parse_spec(f"depth:steps={args.steps},temperature=1,token_schedule=linear")
    gens = {"unknown_only": Generator(FourMPredictor(model), registry),
            "every_cell": Generator(FourMPredictor(model, every_cell=True), registry)}
    grids = {k: g.generate(cond, spec, seed=0).grids["depth"] for k, g in gens.items()}  # warm-up + check
    best = {k: float("inf") for k in gens}
    for _ in range(args.reps):
        for k, g in gens.items():
            t = time.perf_counter()
            g.generate(cond, spec, seed=0)
            best[k] = min(best[k], time.perf_counter() - t)
    speedup = best["every_cell"] / best["unknown_only"]
    out = {"size": args.size, "threads": torch.get_num_threads(), "steps": args.steps,
           "seconds": {k: round(v, 3) for k, v in best.items()}, "speedup": round(speedup, 2),
           "same_grid": bool(torch.equal(grids["unknown_only"], grids["every_cell"]))}
    out["targets"] = {"unknown_only_faster": {"value": out["speedup"], "target": "> 1.0", "met": speedup > 1.0},
                      "same_grid": {"value": out["same_grid"], "target": "true", "met": out["same_grid"]}}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
