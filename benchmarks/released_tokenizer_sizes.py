"""Released 4M tokenizer architectures at their official sizes (random weights): parameters,
time to tokenise one 224-px value and to decode it (DiVAE: a few diffusion steps), on this machine.

Not part of ``make bench`` (minutes on a CPU). Prints one JSON line:
``python benchmarks/released_tokenizer_sizes.py [--threads 2] [--steps 5] [--modalities rgb,semseg]``.
"""
from __future__ import annotations

import argparse
import json
import time

import numpy as np
import torch

from fourm_registry import Registry
from fourm_registry.interop.ml4m.fresh import fresh_released_dense


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--steps", type=int, default=5, help="diffusion steps timed for the DiVAE")
    ap.add_argument("--modalities", default="rgb,semseg", help="from: rgb, depth, semseg")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    registry = Registry.build(allow=[])
    rng = np.random.default_rng(0)
    values = {"rgb": rng.integers(0, 256, (224, 224, 3), dtype=np.uint8),
              "depth": rng.uniform(1, 10, (224, 224)).astype(np.float32),
              "semseg": rng.integers(0, 100, (224, 224)).astype(np.uint8)}
    out: dict[str, dict[str, float]] = {}
    for name in args.modalities.split(","):
        spec = registry.get_modality(name)
        adapter = spec.tokenizer.factory.adapter(spec)
        decoder = "diffusion" if adapter.diffusion else "vit"
        tok = fresh_released_dense(spec, adapter, decoder)
        tok.model.diffusion_steps = args.steps
        t = time.perf_counter()
        [ids] = tok.encode([values[name]])
        encode = time.perf_counter() - t
        t = time.perf_counter()
        tok.decode([ids], generator=torch.Generator().manual_seed(0))
        decode = time.perf_counter() - t
        out[name] = {"decoder": decoder, "params_M": round(sum(p.numel() for p in tok.model.parameters()) / 1e6, 1),
                     "encode_s": round(encode, 2), "decode_s": round(decode, 2),
                     "decode_steps": args.steps if decoder == "diffusion" else 1}
    print(json.dumps({"threads": args.threads, "tokenizers": out}))


if __name__ == "__main__":
    main()
