"""Check that apple/ml-4m's own code reads the tokenizers fourm writes (not part of ``make bench``).

Step 1, fourm's venv: re-save every fixture tokenizer with perturbed weights, and record its tokens::

    python benchmarks/ml4m_reads_fourm_tokenizers.py write --fixtures tests/fixtures/ml4m/tok --out /tmp/fw

Step 2, a venv with ml-4m's dependencies (torch, einops, diffusers; ``ML4M_ROOT`` = a checkout),
using the fixture generator's import helper and size wrapper (``../shared/ref4m/generate``)::

    ML4M_ROOT=/work/ml4m python benchmarks/ml4m_reads_fourm_tokenizers.py read --fixtures tests/fixtures/ml4m/tok \\
        --out /tmp/fw --generator ../shared/ref4m/generate

ml-4m loads each with ``VQVAE/DiVAE.from_pretrained(dir, strict=True)``; prints one JSON line with
"tokens equal" and the max decode (x0 for DiVAE) difference per kind.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np
import torch


def write(fixtures: Path, out: Path) -> None:
    from fourm_registry.interop.ml4m.tokenizers import (
        load_released_tokenizer,
        save_released_tokenizer,
    )

    torch.manual_seed(0)
    for src in sorted(p for p in fixtures.iterdir() if (p / "cases.npz").is_file()):
        m = load_released_tokenizer(src)
        with torch.no_grad():
            for p in m.parameters():
                if p.requires_grad:
                    p.add_(0.01 * torch.randn_like(p))
        save_released_tokenizer(m, out / src.name)
        z = np.load(src / "cases.npz")
        x = torch.from_numpy(z["native.in.x"])
        rec = {"x": z["native.in.x"], "tokens": m.tokenize(x).numpy()}
        with torch.no_grad():
            if m.arch.kind == "divae":
                rec.update(noisy=z["native.fwd.noisy"], t=z["native.fwd.timesteps"])
                rec["out"] = m(x, torch.from_numpy(rec["noisy"]), torch.from_numpy(rec["t"]))[0].numpy()
            else:
                rec["out"] = m.decode_tokens(torch.from_numpy(rec["tokens"])).numpy()
        np.savez(out / f"{src.name}.npz", **rec)


def read(fixtures: Path, out: Path, generator: Path) -> None:
    sys.path.insert(0, str(generator))
    import make_tok_fixtures as mk
    from ml4m_import import import_vq

    torch.set_num_threads(1)
    ml, result = import_vq(), {}
    for src in sorted(p for p in fixtures.iterdir() if (p / "cases.json").is_file()):
        info = json.loads((src / "cases.json").read_text())
        enc, dec = info["model"]["architecture"]["encoder"], info["model"]["architecture"]["decoder"]
        arch = {"vit_dim": enc.get("dim_tokens", 64), "vit_depth": enc.get("depth", 1),
                "vit_heads": enc.get("num_heads", 1), "unet_model_channels": dec.get("model_channels", 32),
                "unet_num_res_blocks": dec.get("num_res_blocks", 1), "unet_channel_mult": dec.get("channel_mult", [1])}
        cls = ml.DiVAE if info["model"]["class"].endswith("DiVAE") else ml.VQVAE
        with mk.shrunk(ml, arch):
            m = cls.from_pretrained(str(out / src.name), strict=True).eval()
        z = np.load(out / f"{src.name}.npz")
        with torch.no_grad():
            tokens = m.tokenize(torch.from_numpy(z["x"]))
            got = m(torch.from_numpy(z["x"]), torch.from_numpy(z["noisy"]), torch.from_numpy(z["t"]))[0] \
                if "noisy" in z else m.decode_tokens(tokens)
        result[src.name] = {"tokens_equal": bool((tokens.numpy() == z["tokens"]).all()),
                            "max_abs_diff": float(np.abs(got.numpy() - z["out"]).max())}
    print(json.dumps(result))


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("step", choices=["write", "read"])
    ap.add_argument("--fixtures", type=Path, default=Path("tests/fixtures/ml4m/tok"))
    ap.add_argument("--out", type=Path, default=Path("/tmp/fw"))
    ap.add_argument("--generator", type=Path, default=Path("../shared/ref4m/generate"))
    args = ap.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    write(args.fixtures, args.out) if args.step == "write" else read(args.fixtures, args.out, args.generator)


if __name__ == "__main__":
    main()
