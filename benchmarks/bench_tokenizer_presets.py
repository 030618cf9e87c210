"""Parameters and time per training step of each ``fourm tokenizer train --preset`` (64 px, batch 8).

Prints one JSON line: ``{preset: {modality: {"params_m", "ms_per_step"}}}`` (best of 3 steps
after one warm-up, one torch thread).
"""
from __future__ import annotations

import json
import time

import torch

from fourm_registry import Registry
from fourm_registry.tokenizers.presets import PRESETS, preset_overrides


def main() -> None:
    torch.set_num_threads(1)
    reg = Registry.build(allow=[])
    out: dict[str, dict[str, dict[str, float]]] = {}
    for modality, patch in (("depth", 8), ("rgb", 16)):
        spec = reg.with_overrides({modality: {"image_size": 64, "patch_size": patch}}).get_modality(modality)
        factory = spec.tokenizer.factory
        adapter = factory.adapter(spec)
        for name in PRESETS:
            model, _ = preset_overrides(name, adapter.config(spec).levels)
            tok = factory.fresh(spec, **model)
            x = torch.randn(8, adapter.in_channels, 64, 64)
            opt = torch.optim.AdamW(tok.model.parameters(), 1e-4)
            times = []
            for _ in range(4):
                start = time.perf_counter()
                loss = tok.model(x)["loss"]
                opt.zero_grad()
                loss.backward()
                opt.step()
                times.append(time.perf_counter() - start)
            out.setdefault(name, {})[f"{modality}@{patch}"] = {
                "params_m": round(sum(p.numel() for p in tok.model.parameters()) / 1e6, 2),
                "ms_per_step": round(1000 * min(times[1:]))}
    print(json.dumps(out))


if __name__ == "__main__":
    main()
