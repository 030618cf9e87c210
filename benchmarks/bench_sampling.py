"""Drawing one id per row on CPU: ``torch.multinomial`` vs fourm's inverse-CDF ``categorical``.

Baseline, in the same run: ``torch.multinomial(probs, 1)`` (what ml-4m and fourm's sampler
used), which draws V exponentials per row from one sequential generator stream. Measured:
:func:`fourm_registry.generation.sampling.categorical`, one uniform per row and a float64 CDF.
Shapes: a tiny MaskGIT step's 196 cells × 8,192 depth codes, and batch-1 caption decoding
(1 × 30,000 words), with glibc malloc tuned as ``fourm`` runs it. Also checks that the two draw the same distribution (total variation
between their empirical frequencies on a 64-id row, against what sampling noise allows).

    .venv/bin/python benchmarks/bench_sampling.py --reps 20
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).parent))
from bench_head import per_call_ms

from fourm_registry.allocator import tune_malloc
from fourm_registry.generation.sampling import categorical


def empirical_tv(draws: int = 200_000, vocab: int = 64) -> dict[str, float]:
    """Total variation distance of each sampler's frequencies from the true probabilities."""
    probs = torch.softmax(torch.randn(vocab, generator=torch.Generator().manual_seed(0)) * 2, 0)
    rows = probs.expand(draws, -1)
    gen = torch.Generator().manual_seed(1)
    out = {}
    for name, ids in (("multinomial", torch.multinomial(rows, 1, generator=gen).squeeze(-1)),
                      ("categorical", categorical(rows, gen))):
        freq = torch.bincount(ids, minlength=vocab).double() / draws
        out[name] = round(float((freq - probs.double()).abs().sum() / 2), 5)
    return out


def main(argv: list[str] | None = None) -> dict:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--reps", type=int, default=20)
    ap.add_argument("--threads", type=int, default=0)
    args = ap.parse_args(argv)
    tune_malloc()  # as the `fourm` command runs: else each call's fresh 12.8 MB CDF faults its pages in
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = {}
    for label, (n, vocab) in {"maskgit_196x8192": (196, 8192), "caption_1x30000": (1, 30000)}.items():
        probs = torch.softmax(torch.randn(n, vocab), -1)
        gen = torch.Generator().manual_seed(0)
        base = per_call_ms(lambda p=probs, g=gen: torch.multinomial(p, 1, generator=g), args.reps)
        ours = per_call_ms(lambda p=probs, g=gen: categorical(p, g), args.reps)
        rows[label] = {"multinomial_ms": round(base, 3), "categorical_ms": round(ours, 3),
                       "speedup": round(base / ours, 2)}
    tv = empirical_tv()
    noise = 0.02  # 200k draws over 64 ids: sampling noise alone gives a TV of about 0.005
    out = {"threads": torch.get_num_threads(), "rows": rows, "total_variation": tv,
           "targets": {"maskgit_draw_faster": {"value": rows["maskgit_196x8192"]["speedup"], "target": "> 1",
                                               "met": rows["maskgit_196x8192"]["speedup"] > 1},
                       "same_distribution": {"value": tv["categorical"], "target": f"< {noise}",
                                             "met": tv["categorical"] < noise}}}
    print(json.dumps(out))
    return out


if __name__ == "__main__":
    main()
