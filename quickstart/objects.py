"""Does the model read the caption? Three checks on the scored held-out scenes' captions.

- Objects: a greedy or mean picture from a caption is the expected scene, mostly floor, so it
  cannot show whether the model places objects at all. This draws their semseg under each
  scheme and prints the share of object pixels (spheres, cubes, cylinders) and of scenes with
  at least one, beside the ground truth's.
- Shapes: in random-order draws, how much of each shape the model paints where the caption
  names it and where it does not (the truth paints none of an unnamed shape).
- Floor tone: per tone word, the true tokens' brightness beside the model's expectation given
  the caption alone, and the greedy chain's picture (see :func:`tone_brightness`). The floor
  fills most of a picture, so a model that ignores the word paints every tone alike.

    python -m fourm_quickstart.objects runs/demo [--seeds 2] [--steps 64]
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch

from fourm_registry.config import load_config
from fourm_registry.errors import FourmError
from fourm_synth.scene import CLASSES, FLOOR_TONES, SHAPES, floor_phrase
from fourm_registry.generation.schedule import GenerationSchedule, StepConfig

from .evaluate import OBJECT_CLASSES, caption_condition, decode_result, held_out, load_generator
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


class ScoredScenes:
    """A finished run's scored scenes, their captions as a condition, and its generator (run under
    the report stage's autocast, so the greedy chain is the scored one)."""

    def __init__(self, out: Path, registry: Any):
        settings_file = Path(out) / "quickstart.json"
        if not settings_file.is_file():
            raise FourmError(f"{out}: not a quickstart run directory (no quickstart.json)")
        s = load_config(QuickstartSettings, settings_file)  # JSON is YAML: the one config reader
        run = Run(Path(out), s, registry)
        if not (run.export / "config.json").is_file():
            raise FourmError(f"{out}: the run has no trained model yet ({run.export} is missing)")
        self.settings = s
        self.samples = held_out(run)[0]
        self.reg, self.predictor, self.gen, self.toks = load_generator(run.export, run.tokenizers, run.registry,
                                                                       ["semseg", "rgb"])
        self.caption = caption_condition(self.predictor, self.samples)

    def draw(self, steps: list[StepConfig], target: str, seed: int = 0) -> list[Any]:
        """``target`` decoded after generating ``steps`` from the captions (draw ``seed``)."""
        with torch.no_grad(), self.settings.generation_autocast():
            res = self.gen.generate(self.caption, GenerationSchedule(steps=steps), seed=self.settings.seed + seed)
        return decode_result(self.reg, self.toks[target], res, target)


def object_shares(run: ScoredScenes, seeds: int = 2, steps: int | None = None) -> dict[str, tuple[float, float]]:
    """``{"ground truth" | scheme: (object pixel share, scenes with objects)}``, means over ``seeds`` draws."""
    result = {"ground truth": object_share([x["semseg"] for x in run.samples])}
    for name, how in SCHEMES.items():
        draws = [object_share(run.draw([StepConfig(target="semseg", steps=steps, **how)], "semseg", seed))
                 for seed in range(1 if how["temperature"] == 0 else seeds)]
        result[name] = (float(np.mean([d[0] for d in draws])), float(np.mean([d[1] for d in draws])))
    return result


def shape_shares(run: ScoredScenes, seeds: int = 2) -> dict[str, dict[str, tuple[float, float]]]:
    """``{"ground truth" | "random order": {shape: (pixel share where named, where not named)}}``."""
    named = {shape: np.array([shape in x["caption"] for x in run.samples]) for shape in SHAPES}

    def shares(maps: list[Any]) -> dict[str, tuple[float, float]]:
        out = {}
        for shape, here in named.items():
            share = np.array([(np.asarray(m) == CLASSES.index(shape)).mean() for m in maps])
            out[shape] = (float(share[here].mean()) if here.any() else float("nan"),
                          float(share[~here].mean()) if (~here).any() else float("nan"))
        return out

    roar = StepConfig(target="semseg", **SCHEMES["random order (ROAR), T = 1"])
    draws = [shares(run.draw([roar], "semseg", seed)) for seed in range(seeds)]
    mean = {shape: tuple(float(np.mean([d[shape][i] for d in draws])) for i in (0, 1)) for shape in SHAPES}
    return {"ground truth": shares([x["semseg"] for x in run.samples]), "random order": mean}


def tone_brightness(run: ScoredScenes) -> dict[str, dict[str, float]]:
    """Per tone word: the scenes, the true pictures' mean pixel, and three views of the model's.

    ``tokens``/``model`` measure in one unit that no decoding choice can blur: a code's
    brightness (the mean pixel of a grid of that code alone), averaged over the true tokens,
    and over the model's distribution for every cell given the caption alone. ``greedy`` is the
    mean pixel of the scored chain (caption → semseg → rgb at temperature 0).
    """
    spec = run.reg.get_modality("rgb")
    h, w = spec.tokenizer.grid
    vocab = spec.tokenizer.vocab_size
    codes = run.toks["rgb"].decode([np.full((h, w), c, dtype=np.int64) for c in range(vocab)])
    bright = torch.tensor([np.asarray(im, dtype=np.float64).mean() for im in codes])
    with torch.no_grad(), run.settings.generation_autocast():
        context = run.predictor.encode(run.caption)
        cells = torch.arange(h * w).expand(len(run.samples), -1)
        probs = run.predictor.grid_logits(context, "rgb", cells).double().softmax(-1)
    model = (probs @ bright).mean(1).tolist()
    tokens = [float(bright[np.asarray(x[spec.token_key]).ravel()].mean()) for x in run.samples]
    greedy = {"temperature": 0.0}
    rgb = run.draw([StepConfig(target="semseg", **greedy), StepConfig(target="rgb", **greedy)], "rgb")
    out = {}
    for word, _ in FLOOR_TONES:
        here = [i for i, x in enumerate(run.samples) if floor_phrase(word) in x["caption"]]
        if here:
            out[word] = {"scenes": len(here),
                         "truth": float(np.mean([run.samples[i]["rgb"].mean() for i in here])),
                         "tokens": float(np.mean([tokens[i] for i in here])),
                         "model": float(np.mean([model[i] for i in here])),
                         "greedy": float(np.mean([np.asarray(rgb[i], dtype=np.float64).mean() for i in here]))}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", type=Path, help="a quickstart run directory with a trained model")
    parser.add_argument("--seeds", type=int, default=2, help="draws per sampled scheme")
    parser.add_argument("--steps", type=int, default=None, help="decoding steps (default: the scheme's)")
    args = parser.parse_args(argv)
    from fourm_registry.registry import get_registry

    seeds = max(1, args.seeds)
    try:
        run = ScoredScenes(args.run, get_registry())
    except FourmError as exc:
        print(f"Error: {exc}", file=sys.stderr)
        return 2
    print("| caption → semseg | object pixels | scenes with an object |\n|---|---|---|")
    for name, (pixels, scenes) in object_shares(run, seeds, args.steps).items():
        print(f"| {name} | {pixels:.3f} | {scenes:.2f} |")
    print("\n| shape pixels, where the caption names it / does not | " + " | ".join(SHAPES) + " |")
    print("|---" * (len(SHAPES) + 1) + "|")
    for name, by_shape in shape_shares(run, seeds).items():
        print(f"| {name} | " + " | ".join(f"{a:.3f} / {b:.3f}" for a, b in by_shape.values()) + " |")
    print("\n| floor tone in the caption | scenes | mean pixel, truth | code brightness, true tokens | "
          "code brightness, model given the caption | mean pixel, greedy caption → semseg → rgb |")
    print("|---|---|---|---|---|---|")
    for word, t in tone_brightness(run).items():
        print(f"| {word} | {t['scenes']} | {t['truth']:.1f} | {t['tokens']:.1f} | {t['model']:.1f} | {t['greedy']:.1f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
