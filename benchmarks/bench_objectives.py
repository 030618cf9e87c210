"""4M vs AIMv2 pre-training on equal footing: same scenes, same encoder size, same token budget.

Both models pre-train with ``fourm train``'s trainer on the same synthetic scenes (``fourm_synth``,
the image and its caption): 4M's masked objective (inputs ``rgb_pixels`` + caption tokens, target
the caption; the image is input-only because a VQ rgb tokenizer is outside this budget) and
AIMv2's (prefix-causal encoder, next patch + next caption token). Their encoders have the same
width, depth, heads and SwiGLU width. The budget is ``optim.total_tokens`` as the trainer counts
them (encoder inputs + decoder targets), the same for both; steps and seconds are reported.
Then each frozen encoder, and a randomly initialised one of each architecture, is probed with
``fourm_registry.probing`` (attentive probe) on held-out scenes for exact scene facts: the visible
object count, the largest visible object's shape and its colour. Mean and min–max over seeds.

    .venv/bin/python benchmarks/bench_objectives.py --work runs/bench_objectives --table

The last stdout line is one JSON object; ``--table`` also prints the README's markdown table.
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch
import yaml

LABELS = ["facts.count", "facts.largest_shape", "facts.largest_colour"]
FAMILIES = ["4m", "aimv2"]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def facts(sample: dict[str, Any]) -> dict[str, Any]:
    """Exact scene facts: visible objects, and the one with the largest box in the image."""
    visible = list(sample["scene"]["visible"])
    boxes = sample["det"].boxes if hasattr(sample["det"], "boxes") else sample["det"]
    if not visible:
        return {"count": 0, "largest_shape": "none", "largest_colour": "none"}
    areas = [(b["box"][2] - b["box"][0]) * (b["box"][3] - b["box"][1]) for b in boxes]
    obj = sample["scene"]["objects"][visible[int(np.argmax(areas))]]
    return {"count": len(visible), "largest_shape": obj["shape"], "largest_colour": obj["color"]}


def prepare(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    """Rendered scenes (cached), a caption WordPiece vocabulary, and shards of rgb + tok_caption + facts."""
    from fourm_synth.generate import SynthSettings, generate

    from fourm_registry import Registry, read_samples
    from fourm_registry.shards import AtomicShardWriter
    from fourm_registry.tokenizers.text import TextTokenizer

    registry = Registry.build(allow=["aimv2"])
    start = time.perf_counter()
    for split, n in (("train", args.n_train), ("val", args.n_val)):
        generate(work / "scenes" / split, SynthSettings(n=n, size=args.size, seed=args.data_seed, split=split,
                                                        spp=args.spp, per_shard=n), registry=registry,
                 progress=False)
    scenes = {split: list(read_samples(str(work / "scenes" / split / f"{split}-000000.tar")))
              for split in ("train", "val")}
    text = TextTokenizer.train([s["caption"] for s in scenes["train"]], vocab_size=5000, min_frequency=1)
    out = work / "shards"
    out.mkdir(parents=True, exist_ok=True)
    for split, samples in scenes.items():
        ids = text.encode_batch([s["caption"] for s in samples])
        with AtomicShardWriter(out / f"{split}.tar", registry) as w:
            for s, t in zip(samples, ids):
                w.write({"__key__": s["__key__"], "rgb": s["rgb"], "tok_caption": np.asarray(t, dtype=np.int16),
                         "facts": facts(s)})
    longest = max(len(t) for t in text.encode_batch([s["caption"] for s in scenes["train"]]))
    log(f"data: {args.n_train}+{args.n_val} scenes at {args.size} px, vocab {text.vocab_size}, "
        f"longest caption {longest} tokens ({time.perf_counter() - start:.0f} s)")
    return {"train": str(out / "train.tar"), "val": str(out / "val.tar"), "vocab": text.vocab_size,
            "max_length": min(longest + 1, 48)}


def run_config(family: str, data: dict[str, Any], args: argparse.Namespace, seed: int, out: Path) -> dict:
    """One run config; the encoder sizes and the token budget are the same for both families."""
    enc = {"dim": args.dim, "num_heads": args.heads}
    caption = {"max_length": data["max_length"], "vocab_size": data["vocab"]}
    image = {"image_size": args.size, "patch_size": args.patch}
    grid = (args.size // args.patch) ** 2
    if family == "4m":
        mods = {"inputs": ["rgb_pixels", "caption"], "targets": ["caption"],
                "settings": {"rgb_pixels": image, "caption": caption}}
        model = {**enc, "encoder_depth": args.depth, "decoder_depth": args.depth}
        masking = {"input_tokens": grid + data["max_length"] // 2, "target_tokens": data["max_length"],
                   "components": [{"name": "all2all", "weight": 1, "input_alphas": 0.5, "target_alphas": 0.5},
                                  {"name": "rgb2caption", "weight": 1, "input_alphas": {"rgb_pixels": 1.0},
                                   "target_alphas": 0.5}]}
    else:
        mods = {"inputs": ["rgb", "caption"], "targets": ["rgb", "caption"],
                "settings": {"rgb": image, "caption": caption}}
        hidden = int(2 * 4.0 * args.dim / 3)  # 4M's SwiGLU width for mlp_ratio 4: the same encoder blocks
        model = {"family": "aimv2", **enc, "depth": args.depth, "mlp_hidden_size": hidden,
                 "decoder_dim": args.dim, "decoder_depth": args.depth, "decoder_heads": args.heads}
        masking = {}
    return {"modalities": mods, "model": model, **({"masking": masking} if masking else {}),
            "data": {"shards": data["train"], "val_shards": data["val"], "num_workers": 0, "shuffle_buffer": 64,
                     "repeat": 1, "segment_batches": 1000},
            "optim": {"lr": args.lr, "weight_decay": 0.05, "warmup_tokens": args.tokens // 20,
                      "total_tokens": args.tokens},
            "train": {"batch_size": args.batch, "seed": seed, "device": "cpu"},
            "checkpoint": {"every": None, "keep_last": 1, "resume": False},
            "logging": {"progress": False, "tensorboard": False, "every": 10 ** 6},
            "eval": {"every": None, "at_start": False, "num_batches": 2}, "out_dir": str(out)}


def pretrain(family: str, data: dict[str, Any], args: argparse.Namespace, seed: int, work: Path) -> dict[str, Any]:
    from fourm_registry import Registry
    from fourm_registry.config import load_config
    from fourm_registry.training import TrainConfig, Trainer

    out = work / "runs" / f"{family}-s{seed}"
    path = out.parent / f"{family}-s{seed}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(run_config(family, data, args, seed, out)))
    trainer = Trainer(load_config(TrainConfig, path), Registry.build(allow=["aimv2"]))
    start = time.perf_counter()
    result = trainer.fit()
    seconds = time.perf_counter() - start
    held = result.evals[-1] if result.evals else {}
    log(f"{family} seed {seed}: {result.state.step} steps, {result.state.tokens_seen:,} tokens, {seconds:.0f} s, "
        f"held-out loss {held.get('loss', float('nan')):.3f}")
    return {"export": str(result.export_dir), "steps": result.state.step, "tokens": result.state.tokens_seen,
            "seconds": seconds, "held_out": held, "config": str(path)}


def encoder_parameters(model: Any, family: str) -> int:
    blocks = model.encoder.vision.encoder.layers if family == "aimv2" else model.encoder
    return sum(p.numel() for p in blocks.parameters())


def load_models(family: str, run: dict[str, Any], seed: int) -> dict[str, Any]:
    """The trained encoder of a run and a randomly initialised one of the same architecture."""
    from fourm_registry import Registry
    from fourm_registry.config import load_config
    from fourm_registry.training import TrainConfig
    from fourm_registry.training.build import resolve_modalities, run_family

    registry = Registry.build(allow=["aimv2"])
    spec = registry.get_family(family)
    cfg = load_config(TrainConfig, run["config"])
    reg, specs = resolve_modalities(cfg.modalities, registry)
    _, model_cfg = run_family(cfg, reg, specs)
    torch.manual_seed(10_000 + seed)
    random = spec.build(model_cfg, reg, specs).eval()
    trained = spec.load(run["export"], registry).eval()
    return {"trained": (spec, trained), "random": (spec, random)}


def probe(spec: Any, model: Any, samples: dict[str, list], args: argparse.Namespace, seed: int) -> dict[str, float]:
    from fourm_registry.probing import extract, fit_probe

    for p in model.parameters():
        p.requires_grad_(False)
    fn = lambda batch: spec.encode_features(model, batch)
    tx, ty = extract(fn, samples["train"], LABELS, 64)
    vx, vy = extract(fn, samples["val"], LABELS, 64)
    out = {}
    for label in LABELS:
        r = fit_probe(tx, ty[label], vx, vy[label], epochs=args.probe_epochs, lr=args.probe_lr, seed=seed, label=label)
        out[label] = r.accuracy
        out[f"{label}/chance"] = r.chance
    return out


def summarise(values: list[float]) -> dict[str, float]:
    return {"mean": statistics.fmean(values), "min": min(values), "max": max(values), "n": len(values)}


def table(report: dict[str, Any]) -> str:
    head = "| encoder | " + " | ".join(label.split(".")[1] for label in LABELS) + " |"
    lines = [head, "|" + "---|" * (len(LABELS) + 1)]
    for name, row in report["results"].items():
        cells = [f"{row[label]['mean']:.3f} ({row[label]['min']:.3f}–{row[label]['max']:.3f})" for label in LABELS]
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
    chance = [f"{report['chance'][label]:.3f}" for label in LABELS]
    lines.append("| majority class | " + " | ".join(chance) + " |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict[str, Any]:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--work", type=Path, default=Path("runs/bench_objectives"))
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    ap.add_argument("--n-train", type=int, default=192)
    ap.add_argument("--n-val", type=int, default=96)
    ap.add_argument("--size", type=int, default=32)
    ap.add_argument("--patch", type=int, default=8)
    ap.add_argument("--spp", type=int, default=4)
    ap.add_argument("--data-seed", type=int, default=0)
    ap.add_argument("--dim", type=int, default=64)
    ap.add_argument("--depth", type=int, default=2)
    ap.add_argument("--heads", type=int, default=4)
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--tokens", type=int, default=40_000, help="pre-training budget per model (trainer tokens)")
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--probe-epochs", type=int, default=40)
    ap.add_argument("--probe-lr", type=float, default=3e-3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--table", action="store_true")
    args = ap.parse_args(argv)
    torch.set_num_threads(args.threads)
    for key, value in {"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0", "MASTER_ADDR": "127.0.0.1"}.items():
        os.environ.setdefault(key, value)
    os.environ.setdefault("MASTER_PORT", str(29500 + os.getpid() % 1000))
    from fourm_registry import read_samples

    start = time.perf_counter()
    args.work.mkdir(parents=True, exist_ok=True)
    data = prepare(args.work, args)
    samples = {split: list(read_samples(data[split])) for split in ("train", "val")}
    scores: dict[str, dict[str, list[float]]] = {}
    runs: dict[str, list[dict[str, Any]]] = {f: [] for f in FAMILIES}
    params: dict[str, int] = {}
    chance: dict[str, float] = {}
    for seed in args.seeds:
        for family in FAMILIES:
            run = pretrain(family, data, args, seed, args.work)
            runs[family].append(run)
            for kind, (spec, model) in load_models(family, run, seed).items():
                name = f"{family} {'pre-trained' if kind == 'trained' else 'random init'}"
                params[family] = encoder_parameters(model, family)
                acc = probe(spec, model, samples, args, seed)
                for label in LABELS:
                    scores.setdefault(name, {}).setdefault(label, []).append(acc[label])
                    chance[label] = acc[f"{label}/chance"]
                log(f"{name} seed {seed}: " + ", ".join(f"{k.split('.')[1]} {acc[k]:.3f}" for k in LABELS))
    report = {
        "budget_tokens": args.tokens, "seeds": args.seeds, "n_train": args.n_train, "n_val": args.n_val,
        "size": args.size, "patch": args.patch, "encoder_block_parameters": params,
        "runs": {f: [{k: r[k] for k in ("steps", "tokens", "seconds")} for r in rs] for f, rs in runs.items()},
        "results": {name: {label: summarise(v) for label, v in row.items()} for name, row in scores.items()},
        "chance": chance, "seconds": time.perf_counter() - start,
        "load_average": os.getloadavg()[0],
    }
    if args.table:
        print(table(report))
    print(json.dumps(report))
    return report


if __name__ == "__main__":
    main()
