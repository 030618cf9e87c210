"""``fourm quickstart``: synth data → tokenizers → tokenize → train → generate → report.

Each stage writes into its own folder of the run directory and is skipped on a rerun when
its output is complete, so an interrupted demo picks up where it stopped.
"""
from __future__ import annotations

import json
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from rich.console import Console

from .run import Run, _seed
from .settings import DENSE, SEQUENCES, QuickstartSettings

console = Console(stderr=True)


@contextmanager
def _reproducible(settings: QuickstartSettings) -> Iterator[None]:
    """Fixed torch threads and deterministic kernels for the whole run; restored afterwards.

    Every stage seeds its own random streams from ``settings.seed`` (synth scenes, tokenizer
    crops and init, data order and masks, generation); summation order in the matmuls still
    depends on the thread count and the CPU's kernels, so those are part of "the same run".
    """
    import torch

    from fourm_registry.determinism import deterministic_kernels

    threads = torch.get_num_threads()
    torch.set_num_threads(settings.threads)
    try:
        with deterministic_kernels(warn_only=True):
            yield
    finally:
        torch.set_num_threads(threads)


def _stage(name: str, done: bool, fn: Callable[[], None]) -> float:
    """Run one stage unless it is done; stages themselves also skip finished shards."""
    if done:
        console.print(f"[green]✓[/] {name}: already done, skipped")
        return 0.0
    console.rule(f"[bold]{name}")
    start = time.perf_counter()
    fn()
    took = time.perf_counter() - start
    console.print(f"[green]✓[/] {name} in {took:.0f} s")
    return took


def synth(run: Run) -> None:
    from fourm_synth.generate import SynthSettings, generate

    s = run.s
    per = max(1, (s.n_train + 3) // 4)
    for split, n, seed in (("train", s.n_train, s.seed), ("val", s.n_val, s.seed + 1)):
        generate(run.data / split, SynthSettings(n=n, size=s.size, seed=seed, split=split, spp=s.spp,
                                                 per_shard=per, floor=s.floor), workers=s.workers,
                 registry=run.registry)


def train_tokenizers(run: Run) -> None:
    from fourm_registry.tokenizers.sequence import corpus_from_shards, sharing_specs, train_text_tokenizer

    from .tokenizers import train_dense

    s, reg = run.s, run.registry
    train_dense(run)
    text_dir = run.tokenizers / "text"
    if not (text_dir / "tokenizer.json").is_file():
        specs = sharing_specs(reg, "text")
        corpus = list(corpus_from_shards(str(run.data / "train"), reg, specs))
        train_text_tokenizer(corpus, reg, "text", vocab_size=s.text_vocab, min_frequency=1) \
            .save_pretrained(text_dir)


def tokenize(run: Run) -> None:
    from fourm_registry.tokenizers import load_tokenizers
    from fourm_registry.tokenizers.tokenize_job import tokenize_shards

    tokenizers = load_tokenizers(run.tokenizers, run.registry, DENSE + SEQUENCES)
    for split in ("train", "val"):
        report = tokenize_shards(str(run.data / split), tokenizers, run.registry, run.tokens / split)
        console.print(f"tokenized {split}: {report}")


def train_config(run: Run) -> dict[str, Any]:
    s = run.s
    mods = DENSE + SEQUENCES
    settings = {m: {**o, "tokenizer": str(run.tokenizers)} for m, o in s.modality_settings().items()}
    tokens_per_step = s.batch_size * (s.input_tokens + s.target_tokens)
    return {
        "modalities": {"inputs": mods, "targets": mods, "settings": settings,
                       "tokenizer_dir": str(run.tokenizers)},
        "model": {"dim": s.dim, "encoder_depth": s.depth, "decoder_depth": s.depth, "num_heads": s.heads},
        "masking": {"input_tokens": s.input_tokens, "target_tokens": s.target_tokens,
                    "components": mixture(s)},
        "data": {"shards": str(run.tokens / "train"), "val_shards": str(run.tokens / "val"),
                 "num_workers": 1, "shuffle_buffer": 256, "repeat": 4},
        "optim": {"lr": s.lr, "warmup_tokens": tokens_per_step * max(s.train_steps // 20, 1),
                  "total_tokens": tokens_per_step * s.train_steps},
        "train": {"batch_size": s.batch_size, "max_steps": s.train_steps, "seed": s.seed},
        "deepspeed": {"autocast": s.autocast},
        "checkpoint": {"every": max(s.train_steps // 4, 1), "keep_last": 1},
        "logging": {"every": max(s.train_steps // 20, 1)},
        "eval": {"every": max(s.train_steps // 4, 1), "num_batches": 2, "at_start": True},
        "out_dir": str(run.train_dir),
    }


def mixture(s: QuickstartSettings) -> list[dict[str, Any]]:
    """The 4M masking mixture at ``s.mixture``'s weights. caption2all keeps the caption whole as
    input, so its targets are ``s.caption2all_targets``, never the caption: a caption target there
    would take decoder tokens that can hold no caption token (about 10 of 64, by ``fourm masking preview``)."""
    from_caption = {m: 0.5 for m in s.caption2all_targets}
    components = [
        {"name": "all2all", "input_alphas": 0.5, "target_alphas": 0.5},
        {"name": "rgb2all", "input_alphas": {"rgb": 1.0}, "target_alphas": 0.5},
        {"name": "caption2all", "input_alphas": {"caption": 1.0}, "target_alphas": from_caption, "keep_all": ["caption"]},
    ]
    return [{**c, "weight": s.mixture[c["name"]]} for c in components if s.mixture[c["name"]] > 0]


def train(run: Run) -> None:
    import yaml

    from fourm_registry.config import validate_config
    from fourm_registry.training import TrainConfig, Trainer

    data = train_config(run)
    run.train_dir.mkdir(parents=True, exist_ok=True)
    (run.train_dir / "config.yaml").write_text(yaml.safe_dump(data, sort_keys=False))
    cfg = validate_config(TrainConfig, data, "quickstart train config")
    result = Trainer(cfg, run.registry).fit()
    (run.train_dir / "result.json").write_text(json.dumps(
        {"step": result.state.step, "evals": result.evals}, indent=2, default=str))


def report(run: Run) -> None:
    from . import evaluate, report as rep

    s = run.s
    samples, dev = evaluate.held_out(run)
    held_out = samples + dev
    with s.generation_autocast():
        candidates = evaluate.predict_all(run.export, run.tokenizers, held_out, run.registry, seed=s.seed,
                                          k=s.decode_samples if dev else 0)
    scored, kept = _split(candidates, len(samples))
    base = evaluate.fit_baselines(str(run.data / "train"), run.registry)
    on_dev = {p: evaluate.score(dev, preds, base) for p, preds in kept.items()} if dev else {}
    choice = evaluate.choose(on_dev) if dev else dict.fromkeys(evaluate.DENSE_TARGETS, "greedy")
    preds = evaluate.assemble(scored, choice)
    ceiling = evaluate.tokenizer_roundtrip(run.tokenizers, samples, run.registry)
    rows = evaluate.score(samples, preds, base, ceiling)
    evaluate.annotate(rows, samples, scored, base, choice)
    pics = rep.grids(samples, preds, run.registry, run.report_dir, s.picture_samples, choice=choice,
                     k=s.decode_samples)
    result = json.loads((run.train_dir / "result.json").read_text())
    facts = {"settings": s.model_dump(), "train_steps": result["step"], "n_train": s.n_train,
             "n_eval": len(samples), "size": s.size, "params_m": _params_m(run.export),
             "final_eval": result["evals"][-1] if result["evals"] else {},
             "dev": evaluate.dev_table(on_dev)}
    md, page = rep.write(run.report_dir, rows, pics, facts)
    console.print(f"report: {md} and {page}")


def _split(candidates: dict[str, dict[str, list]], n: int) -> tuple[dict, dict]:
    """Predictions of the first ``n`` scenes (scored) and of the rest (dev), per protocol."""
    head = {p: {t: v[:n] for t, v in d.items()} for p, d in candidates.items()}
    tail = {p: {t: v[n:] for t, v in d.items()} for p, d in candidates.items()}
    return head, tail


def _params_m(export: Path) -> float:
    import math

    from safetensors import safe_open

    with safe_open(str(export / "model.safetensors"), "pt") as f:
        return sum(math.prod(f.get_slice(k).get_shape()) for k in f.keys()) / 1e6


STAGES: list[tuple[str, Callable[[Run], None]]] = [
    ("synthetic data", synth), ("tokenizers", train_tokenizers), ("tokenize", tokenize),
    ("train", train), ("generate + report", report),
]


def run_all(out: Path, settings: QuickstartSettings, registry: Any) -> Path:
    """Every stage in order; a stage whose marker exists is skipped. Returns the report path."""
    run = Run(out, settings, registry)
    run.out.mkdir(parents=True, exist_ok=True)
    _check_settings(run)
    console.print(f"fourm quickstart → {run.out} "
                  f"(estimated {settings.estimate_minutes()} min on 2 CPU cores)")
    times_file = run.out / "stage-seconds.json"
    times = json.loads(times_file.read_text()) if times_file.is_file() else {}
    with _reproducible(settings):
        for name, fn in STAGES:
            marker = run.out / f".done-{name.split()[0]}"
            done = marker.is_file()
            _seed(settings.seed)
            took = _stage(name, done, lambda fn=fn: fn(run))
            if not done:
                times[name] = round(took, 1)
                times_file.write_text(json.dumps(times, indent=2))
            marker.touch()
    from .report import append_stage_times

    md = run.report_dir / "report.md"
    append_stage_times(md, times)
    return md


def _check_settings(run: Run) -> None:
    """A rerun must use the settings the finished stages were made with."""
    saved = run.out / "quickstart.json"
    now = run.s.model_dump()
    if saved.is_file() and json.loads(saved.read_text()) != now:
        from fourm_registry.errors import FourmError

        raise FourmError(f"{run.out} holds a run made with other settings; "
                         "use another --out or delete it.")
    saved.write_text(json.dumps(now, indent=2))
