"""The CM3 half of ``bench_merge.py``: a text-only parent + an image-text parent (JAM's setting),
merged (uniform, width, cross) and trained N more steps, against N steps from scratch on the same
batches, and against 2P + N steps from scratch (the parents' steps too).

Held-out loss per modality on plain (unmasked) sequences, and one generation metric: the
token accuracy of the rgb grid predicted from the caption in one pass (every cell argmax of
``[BOS] caption <break> rgb…`` with the true earlier cells in view: teacher-forced).
"""
from __future__ import annotations

import statistics
import time

import numpy as np
import torch

MODS = ["caption", "rgb"]


def _steps(model_cfg, reg, mods):
    from fourm_cm3.data import CM3Step, run_order, vocab_records
    from fourm_cm3.vocab import Layout

    specs = reg.select(mods)
    layout = Layout(vocab_records(model_cfg, reg, specs), model_cfg.num_sentinels)
    return CM3Step(run_order(model_cfg, specs), layout, model_cfg), layout


def stream(data, model_cfg, mods, batch_size, seed):
    from fourm_registry.data import collate

    step, _ = _steps(model_cfg, data.registry, mods)
    rng = np.random.default_rng(seed)
    while True:
        idx = rng.choice(len(data.train), batch_size, replace=False)
        yield collate([step(data.train[i], rng) for i in idx])


@torch.no_grad()
def evaluate(model, data, model_cfg) -> dict[str, float]:
    from fourm_registry.data import collate

    plain = model_cfg.model_copy(update={"mask_prob": 0.0})
    step, layout = _steps(plain, data.registry, MODS)
    rng = np.random.default_rng(0)
    losses: dict[str, list[float]] = {}
    correct = total = 0
    lo, hi = layout.span("rgb")
    for start in range(0, len(data.val), 16):
        batch = collate([step(s, rng) for s in data.val[start:start + 16]])
        out = model(batch)
        for name, value in out.losses.items():
            losses.setdefault(name, []).append(float(value))
        ids, seg = batch["ids"].inputs, batch["segments"].inputs
        logits = model.logits(ids[:, :-1])
        is_rgb = (seg[:, 1:] == layout.names.index("rgb")) & batch["ids"].input_mask[:, 1:]
        pred = logits[..., lo:hi].argmax(-1) + lo  # restricted to the grid's ids, as decoding is
        correct += int((pred == ids[:, 1:])[is_rgb].sum())
        total += int(is_rgb.sum())
    return {**{f"loss/{n}": statistics.fmean(v) for n, v in losses.items()},
            "gen/caption2rgb_token_acc": correct / max(total, 1)}


def run_seed(seed, data, work, args, train) -> dict[str, dict[str, float]]:
    from fourm_cm3 import CM3, CM3Cross
    from fourm_registry.merging import merge

    reg = data.registry
    spec = reg.get_family("cm3")
    cfg = spec.validate_model({"dim": args.dim, "depth": 2 * args.depth, "num_heads": args.heads, "vocab": MODS})
    out, rows = work / f"cm3_seed{seed}", {}
    kw = {"lr": args.lr, "batch_size": args.batch}
    for label, mods in (("text-only", ["caption"]), ("image-text", MODS)):
        path = out / label
        if not (path / "model.safetensors").is_file():
            torch.manual_seed(seed)
            model = spec.build(cfg, reg, reg.select(mods))
            sd = seed + (1 if label == "image-text" else 0)
            train(model, data, mods, args.parent_steps, sd, stream=stream(data, cfg, mods, args.batch, sd), **kw)
            model.save_pretrained(path)
        rows[f"cm3 parent {label}"] = evaluate(CM3.from_pretrained(path), data, cfg)
    common = {"seed": 10_000 + seed, "stream": stream(data, cfg, MODS, args.batch, 10_000 + seed), **kw}
    start = time.perf_counter()
    torch.manual_seed(seed)
    scratch = train(spec.build(cfg, reg, reg.select(MODS)), data, MODS, args.steps, **common)
    rows["cm3 scratch"] = {**evaluate(scratch, data, cfg), "seconds": time.perf_counter() - start}
    total = 2 * args.parent_steps + args.steps
    torch.manual_seed(seed)
    common["stream"] = stream(data, cfg, MODS, args.batch, 10_000 + seed)
    long = train(spec.build(cfg, reg, reg.select(MODS)), data, MODS, total, **common)
    rows[f"cm3 scratch, {total} steps"] = evaluate(long, data, cfg)
    for method in ("uniform", "width", "cross"):
        target = out / method
        if not target.exists():
            merge(out / "text-only", out / "image-text", method, target, registry=reg, echo=lambda m: None)
        model = (CM3Cross if method == "cross" else CM3).from_pretrained(target)
        rows[f"cm3 {method} @0"] = evaluate(model, data, cfg)
        common["stream"] = stream(data, cfg, MODS, args.batch, 10_000 + seed)
        start = time.perf_counter()
        model = train(model, data, MODS, args.steps, **common)
        rows[f"cm3 {method} +N"] = {**evaluate(model, data, cfg), "seconds": time.perf_counter() - start}
    return rows
