"""Training loop of a dense (VQ-VAE / DiVAE) tokenizer: progress, codebook usage, pictures.

Every ``log_every`` steps it logs the losses and the share of the codebook used since the
last log (to the progress line and ``metrics.jsonl``); every ``sample_every`` steps it saves
inputs above their reconstructions as a PNG under ``recon/``; it saves the tokenizer
(``config.json`` + ``model.safetensors``) every ``save_every`` steps and at the end.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from pydantic import Field
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

from ..config import StrictModel


class TrainSettings(StrictModel):
    """How long and how to train (the model's own settings live in ``VQVAEConfig``)."""

    steps: int = Field(default=20000, gt=0)
    batch_size: int = Field(default=16, gt=0)
    lr: float = Field(default=2e-4, gt=0)
    weight_decay: float = Field(default=0.05, ge=0)
    warmup_steps: int = Field(default=500, ge=0)
    grad_clip: float = Field(default=1.0, gt=0)
    log_every: int = Field(default=50, gt=0)
    sample_every: int = Field(default=1000, gt=0)
    save_every: int = Field(default=1000, gt=0)
    seed: int = 0
    device: str = "cpu"
    autocast: bool = Field(default=False, description="bf16 autocast for the encoder and decoder; weights, "
                           "the quantiser, the loss and AdamW stay fp32 (worth it only with native bf16)")


def _lr_factor(step: int, warmup: int, total: int) -> float:
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1 + np.cos(np.pi * min(progress, 1.0)))


def save_reconstructions(tokenizer: Any, x: torch.Tensor, path: Path, count: int = 4) -> Path | None:
    """Inputs (top row) and their reconstructions from tokens (bottom row) as one PNG."""
    draw = tokenizer.spec.draw
    if draw is None:
        return None
    from PIL import Image

    x = x[:count]
    model = tokenizer.model
    was_training = model.training
    model.eval()
    try:
        recon = model.decode(model.encode(x), generator=torch.Generator(x.device).manual_seed(0))
    finally:
        model.train(was_training)
    adapter = tokenizer.adapter
    rows = [[draw(adapter.from_output(v)) for v in t.float().cpu().numpy()] for t in (x, recon)]
    w, h = rows[0][0].size
    sheet = Image.new("RGB", (w * len(rows[0]), h * 2), "white")
    for r, row in enumerate(rows):
        for c, img in enumerate(row):
            sheet.paste(img.convert("RGB").resize((w, h)), (c * w, r * h))
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path)
    return path


def train_dense_tokenizer(
    tokenizer: Any, batches: Iterator[torch.Tensor], settings: TrainSettings,
    out_dir: str | Path | None = None, progress: bool = True,
    on_log: Callable[[dict[str, Any]], None] | None = None,
) -> list[dict[str, Any]]:
    """Train ``tokenizer.model`` in place on ``batches``; returns the logged records."""
    torch.manual_seed(settings.seed)
    device = torch.device(settings.device)
    model = tokenizer.model.to(device).train()
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    opt = torch.optim.AdamW(model.parameters(), lr=settings.lr, betas=(0.9, 0.99),
                            weight_decay=settings.weight_decay)
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: _lr_factor(s, min(settings.warmup_steps, settings.steps // 5), settings.steps))
    history: list[dict[str, Any]] = []
    sums: dict[str, float] = {}
    seen = 0
    start = time.perf_counter()
    model.quantizer.reset_usage()
    metrics = (out / "metrics.jsonl").open("a") if out is not None else None
    columns = (TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
               TimeRemainingColumn(), TextColumn("{task.fields[info]}"))
    try:
        with Progress(*columns, disable=not progress) as bar:
            task = bar.add_task(f"tokenizer {tokenizer.spec.name}", total=settings.steps, info="")
            for step in range(1, settings.steps + 1):
                x = next(batches).to(device)
                if step == 1:
                    model.fit_standardization(x)
                with torch.autocast(device.type, dtype=torch.bfloat16, enabled=settings.autocast):
                    outputs = model(x)
                opt.zero_grad(set_to_none=True)
                outputs["loss"].backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), settings.grad_clip)
                opt.step()
                sched.step()
                for k in ("loss", "recon_loss", "commit_loss"):
                    sums[k] = sums.get(k, 0.0) + float(outputs[k].detach())
                seen += 1
                if step % settings.log_every == 0 or step == settings.steps:
                    record = {"step": step, **{k: v / seen for k, v in sums.items()},
                              "codebook_usage": model.quantizer.usage_fraction(),
                              "replaced": model.quantizer.last_replaced, "lr": sched.get_last_lr()[0],
                              "seconds": round(time.perf_counter() - start, 2)}
                    history.append(record)
                    sums, seen = {}, 0
                    model.quantizer.reset_usage()
                    bar.update(task, info=f"loss {record['recon_loss']:.4f}  "
                                          f"codebook {100 * record['codebook_usage']:.1f}%")
                    if metrics is not None:
                        metrics.write(json.dumps(record) + "\n")
                        metrics.flush()
                    if on_log is not None:
                        on_log(record)
                if out is not None and (step % settings.sample_every == 0 or step == settings.steps):
                    save_reconstructions(tokenizer, x, out / "recon" / f"step_{step:07d}.png")
                if out is not None and (step % settings.save_every == 0 or step == settings.steps):
                    tokenizer.save_pretrained(out)
                bar.advance(task)
    finally:
        if metrics is not None:
            metrics.close()
        model.eval()
    return history
