"""The measured value of merging (JAM) for 4M: merged parents + N steps vs N steps from scratch.

Parent A learns rgb ↔ depth, normal; parent B rgb ↔ semseg, det, caption (synthetic scenes,
the quickstart's tokenizers at 32 px). They are merged by each method (uniform, width, cross)
and trained N more steps on all modalities; a model trained from scratch for the same N steps,
on the same batches and masks, is the baseline, and one trained from scratch for 2P + N steps
(the parents' P steps each plus N: the same number of optimizer steps in all) the equal-compute one. Reported per method, mean ± spread (half the
range) over seeds: held-out loss per modality (fixed masks) and one generation metric, the
token accuracy of rgb → semseg decoded in one step (every cell argmax).

    .venv/bin/python benchmarks/bench_merge.py --work runs/bench_merge   # ≈10 min on 2 idle cores

The last stdout line is one JSON object (``make bench``); ``--table`` also prints the
markdown table the README shows.
"""
from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent
MODS_A = ["rgb", "depth", "normal"]
MODS_B = ["rgb", "semseg", "det", "caption"]
ALL = ["rgb", "depth", "normal", "semseg", "det", "caption"]


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def prepare_data(work: Path, n_train: int, vq_steps: int):
    """Synthetic scenes, tokenizers and token shards through the quickstart's own stages (cached)."""
    from fourm_quickstart import pipeline
    from fourm_quickstart.settings import QuickstartSettings
    from fourm_registry.registry import get_registry

    settings = QuickstartSettings(n_train=n_train, n_val=32, size=32, patch=4, spp=4, workers=1, dense_vocab=32,
                                  vq_steps=vq_steps, vq_batch=16, vq_channels=[16, 16, 32], vq_norm_groups=8,
                                  caption_length=24, det_length=32, seed=0, threads=torch.get_num_threads())
    run = pipeline.Run(work / "data_run", settings, get_registry())
    for name, stage, marker in (("synth", pipeline.synth, run.data / "val"),
                                ("tokenizers", pipeline.train_tokenizers, run.tokenizers / "text" / "tokenizer.json"),
                                ("tokenize", pipeline.tokenize, run.tokens / "val")):
        if not marker.exists():
            start = time.perf_counter()
            stage(run)
            log(f"{name}: {time.perf_counter() - start:.0f} s")
    return run


class Data:
    """All token samples in memory; batches drawn by a seeded generator (same for every model)."""

    def __init__(self, run, input_tokens: int, target_tokens: int):
        from fourm_registry.data import prepare_sample
        from fourm_registry.masking import Masker, MaskingConfig
        from fourm_registry.shards import read_samples

        self.registry = run.registry
        specs = self.registry.select(ALL)
        self.train = [prepare_sample(s, specs) for s in read_samples(str(run.tokens / "train"), self.registry)]
        self.val = [prepare_sample(s, specs) for s in read_samples(str(run.tokens / "val"), self.registry)]
        self.cfg = MaskingConfig(input_tokens=input_tokens, target_tokens=target_tokens)
        self.maskers = {tuple(m): Masker(self.cfg, self.registry.select(m)) for m in (MODS_A, MODS_B, ALL)}

    def batch(self, samples, mods, rng):
        from fourm_registry.data import collate

        masker = self.maskers[tuple(mods)]
        return collate([masker({"__key__": s["__key__"], **{m: s[m] for m in mods}}, rng) for s in samples])

    def stream(self, mods, batch_size: int, seed: int):
        rng = np.random.default_rng(seed)
        while True:
            idx = rng.choice(len(self.train), batch_size, replace=False)
            yield self.batch([self.train[i] for i in idx], mods, rng)


def train(model, data: Data, mods, steps: int, seed: int, lr: float, batch_size: int, stream=None):
    """AdamW (4M's betas and decay), warm-up then cosine, clipped; the batches of ``stream`` (default: 4M masks)."""
    torch.manual_seed(seed)
    opt = torch.optim.AdamW(model.parameters(), lr=lr, betas=(0.9, 0.95), weight_decay=0.05)
    warm = max(steps // 10, 1)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min((s + 1) / warm, 0.5 * (1 + math.cos(math.pi * min(s / steps, 1.0)))))
    model.train()
    stream = stream or data.stream(mods, batch_size, seed)
    for _ in range(steps):
        loss = model(next(stream)).loss
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        opt.step()
        sched.step()
    return model.eval()


@torch.no_grad()
def evaluate(model, data: Data, mods) -> dict[str, float]:
    """Held-out loss per modality (the same masks for every model) and rgb → semseg token accuracy."""
    from fourm_registry.batch import ModalityBatch

    rng = np.random.default_rng(1234)
    sums: dict[str, list[float]] = {}
    for start in range(0, len(data.val), 16):
        out = model(data.batch(data.val[start:start + 16], mods, rng))
        for name, value in out.losses.items():
            sums.setdefault(name, []).append(float(value))
    result = {f"loss/{n}": statistics.fmean(v) for n, v in sums.items()}
    if "semseg" in model.decoder_embeddings and "rgb" in model.encoder_embeddings:
        rgb = torch.from_numpy(np.stack([s["rgb"].reshape(-1) for s in data.val])).long()
        truth = torch.from_numpy(np.stack([s["semseg"].reshape(-1) for s in data.val])).long()
        ones = torch.ones_like(rgb, dtype=torch.bool)
        ctx, mask = model.encode({"rgb": ModalityBatch(inputs=rgb, input_mask=ones)})
        q = torch.zeros_like(truth)
        mb = ModalityBatch(inputs=q, input_mask=torch.zeros_like(ones), targets=q, target_mask=torch.ones_like(ones))
        pred = model.decode("semseg", mb, ctx, mask).argmax(-1)
        result["gen/rgb2semseg_token_acc"] = float((pred == truth).float().mean())
    return result


def params(model) -> int:
    return sum(p.numel() for p in model.parameters())


def run_seed(seed: int, data: Data, work: Path, args) -> dict[str, dict[str, float]]:
    from fourm_registry.merging import merge
    from fourm_registry.merging.cross_model import load_cross
    from fourm_registry.model import FourM, build_model

    cfg = {"dim": args.dim, "encoder_depth": args.depth, "decoder_depth": args.depth, "num_heads": args.heads}
    reg, out, rows = data.registry, work / f"seed{seed}", {}
    common = {"seed": 10_000 + seed, "lr": args.lr, "batch_size": args.batch}
    for label, mods in (("A", MODS_A), ("B", MODS_B)):
        path = out / label
        if not (path / "model.safetensors").is_file():
            torch.manual_seed(seed)
            model = train(build_model(cfg, reg, mods), data, mods, args.parent_steps, seed + (1 if label == "B" else 0),
                          args.lr, args.batch)
            model.save_pretrained(path)
        rows[f"parent {label}"] = evaluate(FourM.from_pretrained(path, reg), data, mods)
    start = time.perf_counter()
    torch.manual_seed(seed)
    scratch = train(build_model(cfg, reg, ALL), data, ALL, args.steps, **common)
    rows["scratch"] = {**evaluate(scratch, data, ALL), "params": params(scratch),
                       "seconds": time.perf_counter() - start}
    total = 2 * args.parent_steps + args.steps  # what the merged models cost in all: both parents + N
    torch.manual_seed(seed)
    long = train(build_model(cfg, reg, ALL), data, ALL, total, **common)
    rows[f"scratch, {total} steps"] = evaluate(long, data, ALL)
    for method in ("uniform", "width", "cross"):
        target = out / method
        if not target.exists():
            merge(out / "A", out / "B", method, target, registry=reg, echo=log, every=1)
        model = load_cross(target, reg) if method == "cross" else FourM.from_pretrained(target, reg)
        rows[f"{method} @0"] = evaluate(model, data, ALL)
        start = time.perf_counter()
        model = train(model, data, ALL, args.steps, **common)
        rows[f"{method} +N"] = {**evaluate(model, data, ALL), "params": params(model),
                                "seconds": time.perf_counter() - start}
        log(f"seed {seed} {method}: {rows[f'{method} +N']}")
    return rows


def aggregate(per_seed: list[dict[str, dict[str, float]]]) -> dict[str, dict[str, list[float]]]:
    """Per row and metric: [mean, half range] over seeds."""
    out: dict[str, dict[str, list[float]]] = {}
    for row in per_seed[0]:
        out[row] = {}
        for metric in per_seed[0][row]:
            values = [s[row][metric] for s in per_seed if metric in s.get(row, {})]
            out[row][metric] = [statistics.fmean(values), (max(values) - min(values)) / 2]
    return out


def table(agg: dict[str, dict[str, list[float]]], metrics: list[str] | None = None) -> str:
    metrics = metrics or [f"loss/{m}" for m in ALL] + ["gen/rgb2semseg_token_acc"]
    head = "| model | " + " | ".join(m.split("/")[1] for m in metrics) + " |"
    lines = [head, "|---" * (len(metrics) + 1) + "|"]
    for row, vals in agg.items():
        cells = [f"{vals[m][0]:.3f} ± {vals[m][1]:.3f}" if m in vals else "—" for m in metrics]
        lines.append(f"| {row} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--work", type=Path, default=ROOT / "runs" / "bench_merge")
    parser.add_argument("--seeds", type=int, default=2)
    parser.add_argument("--n-train", type=int, default=400)
    parser.add_argument("--vq-steps", type=int, default=150)
    parser.add_argument("--parent-steps", type=int, default=300)
    parser.add_argument("--steps", type=int, default=150, help="N: steps after merging, and for scratch")
    parser.add_argument("--dim", type=int, default=64)
    parser.add_argument("--depth", type=int, default=2)
    parser.add_argument("--heads", type=int, default=2)
    parser.add_argument("--batch", type=int, default=16)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--tokens", type=int, default=48, help="input and target token budgets")
    parser.add_argument("--table", action="store_true")
    parser.add_argument("--part", choices=["4m", "cm3", "both"], default="both", help="which half to run")
    args = parser.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    start = time.perf_counter()
    run = prepare_data(args.work, args.n_train, args.vq_steps)
    data = Data(run, args.tokens, args.tokens)
    agg: dict = {}
    if args.part in ("4m", "both"):
        agg = aggregate([run_seed(seed, data, args.work, args) for seed in range(args.seeds)])
        if args.table:
            print(table(agg))
    cm3 = {}
    if args.part in ("cm3", "both"):
        sys.path.insert(0, str(Path(__file__).parent))
        from _merge_cm3 import run_seed as cm3_seed

        cm3 = aggregate([cm3_seed(seed, data, args.work, args, train) for seed in range(args.seeds)])
        if args.table:
            print(table(cm3, ["loss/caption", "loss/rgb", "gen/caption2rgb_token_acc"]))
    ratios = {}
    if agg:
        scratch_loss = statistics.fmean(agg["scratch"][f"loss/{m}"][0] for m in ALL)
        ratios = {m: statistics.fmean(agg[f"{m} +N"][f"loss/{x}"][0] for x in ALL) / scratch_loss
                  for m in ("uniform", "width", "cross")}
    targets = {f"{m}_beats_scratch": {"value": round(r, 4), "target": "< 1 (mean held-out loss vs scratch)",
                                      "met": r < 1} for m, r in ratios.items()}
    if agg:  # the same comparison against scratch trained as many steps as the parents and the merge together
        long = agg[f"scratch, {2 * args.parent_steps + args.steps} steps"]
        long_loss = statistics.fmean(long[f"loss/{m}"][0] for m in ALL)
        for m, r in ratios.items():
            value = r * scratch_loss / long_loss
            targets[f"{m}_beats_equal_steps_scratch"] = {"value": round(value, 4), "target": "< 1", "met": value < 1}
    if cm3:
        r = statistics.fmean(cm3["cm3 uniform +N"][f"loss/{m}"][0] / cm3["cm3 scratch"][f"loss/{m}"][0]
                             for m in ("caption", "rgb"))
        targets["cm3_uniform_beats_scratch"] = {"value": round(r, 4), "target": "< 1", "met": r < 1}
    print(json.dumps({"steps": args.steps, "parent_steps": args.parent_steps, "seeds": args.seeds,
                      "loss_ratio_vs_scratch": ratios, "rows": agg, "cm3_rows": cm3, "targets": targets,
                      "seconds_total": round(time.perf_counter() - start, 1)}))


if __name__ == "__main__":
    main()
