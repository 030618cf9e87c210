"""Does the model draw objects from a caption? Object pixels in caption → semseg draws, by scheme.

A greedy or mean picture from a caption is the expected scene, mostly floor, so it cannot show
whether the model places objects at all. This draws the semseg of the scored held-out scenes
from their captions under each scheme and prints the share of object pixels (spheres, cubes,
cylinders) and of scenes with at least one, beside the ground truth's.

    python -m fourm_quickstart.objects runs/demo [--seeds 2] [--steps 64]
"""
from __future__ import annotations

import argparse
import itertools
import json
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fourm_registry.errors import FourmError
from fourm_registry.generation.schedule import GenerationSchedule, StepConfig
from fourm_registry.shards import read_samples

from .evaluate import OBJECT_CLASSES, caption_condition, decode_result, load_generator
from .run import Run
from .settings import QuickstartSettings

SCHEMES: dict[str, dict[str, Any]] = {
    "greedy (MaskGIT, T = 0)": {"temperature": 0.0},
    "MaskGIT, T = 1": {"temperature": 1.0},
    "random order (ROAR), T = 1": {"temperature": 1.0, "scheme": "roar"},
}


def object_share(maps: list[Any]) -> tuple[float, float]:
    """(share of object pixels, share of scenes with any object pixel)."""
    obj = np.isin(np.stack([np.asarray(m) for m in maps]), OBJECT_CLASSES)
    return float(obj.mean()), float(obj.reshape(len(obj), -1).any(1).mean())


def measure(out: Path, registry: Any, seeds: int = 2, steps: int | None = None) -> dict[str, tuple[float, float]]:
    """``{"ground truth" | scheme: (object pixel share, scenes with objects)}``, means over ``seeds`` draws."""
    settings_file = Path(out) / "quickstart.json"
    if not settings_file.is_file():
        raise FourmError(f"{out}: not a quickstart run directory (no quickstart.json)")
    s = QuickstartSettings.model_validate(json.loads(settings_file.read_text()))
    run = Run(Path(out), s, registry)
    if not (run.export / "config.json").is_file():
        raise FourmError(f"{out}: the run has no trained model yet ({run.export} is missing)")
    samples = list(itertools.islice(read_samples(str(run.tokens / "val"), run.registry), s.eval_samples))
    reg, predictor, gen, toks = load_generator(run.export, run.tokenizers, run.registry, ["semseg"])
    caption = caption_condition(predictor, samples)
    result = {"ground truth": object_share([x["semseg"] for x in samples])}
    for name, how in SCHEMES.items():
        draws = []
        for seed in range(1 if how["temperature"] == 0 else seeds):
            step = StepConfig(target="semseg", steps=steps, **how)
            with torch.no_grad():
                res = gen.generate(caption, GenerationSchedule(steps=[step]), seed=s.seed + seed)
            draws.append(object_share(decode_result(reg, toks["semseg"], res, "semseg")))
        result[name] = (float(np.mean([d[0] for d in draws])), float(np.mean([d[1] for d in draws])))
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a quickstart run directory with a trained model")
    parser.add_argument("--seeds", type=int, default=2, help="draws per sampled scheme")
    parser.add_argument("--steps", type=int, default=None, help="decoding steps (default: the scheme's)")
    args = parser.parse_args(argv)
    from fourm_registry.registry import get_registry

    try:
        result = measure(args.run, get_registry(), seeds=max(1, args.seeds), steps=args.steps)
    except FourmError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    print("| caption → semseg | object pixels | scenes with an object |\n|---|---|---|")
    for name, (pixels, scenes) in result.items():
        print(f"| {name} | {pixels:.3f} | {scenes:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
