"""The quickstart's tokenizer stage: four small VQ-VAEs, trained side by side, and a WordPiece.

Why side by side: at the demo's sizes a VQ-VAE step is small convolutions that use two
cores poorly; two processes at one thread each train 1.2–1.3× more steps per second than
one process at two threads (docs/demo-history.md, "What each change bought"). Each tokenizer trains in a
fresh (spawned) process that rebuilds the registry from the same plugins, seeds itself
from its own index and uses ``threads // vq_workers`` threads, so the result depends on
the settings and the CPU kind, not on which tokenizer finished first. A registry holding
plugin objects that a fresh process cannot load by name (as tests inject) trains the
tokenizers one after another instead.
"""
from __future__ import annotations

import multiprocessing as mp
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

from .settings import DENSE, QuickstartSettings


def fresh_tokenizer(run: Any, name: str) -> Any:
    """An untrained VQ-VAE for dense modality ``name`` at this run's sizes and overrides."""
    s = run.s
    spec = run.registry.get_modality(name)
    own = s.vq_overrides[name].fields() if name in s.vq_overrides else {}
    return spec.tokenizer.factory.fresh(spec, channels=list(s.vq_channels), pixels_per_token=s.patch,
                                        norm_num_groups=s.vq_norm_groups, **own)


def train_one(run: Any, index: int, name: str, progress: bool = True) -> None:
    """Train and save dense tokenizer ``name`` (the ``index``-th of :data:`DENSE`)."""
    from fourm_registry.tokenizers.data import dense_batches
    from fourm_registry.tokenizers.training import TrainSettings, train_dense_tokenizer

    from .run import _seed

    s = run.s
    _seed(s.seed * 1000 + index)  # initial weights independent of the tokenizers already made
    tok = fresh_tokenizer(run, name)
    batches = dense_batches(tok, str(run.data / "train"), run.registry, s.vq_batch, s.size, seed=s.seed)
    settings = TrainSettings(steps=s.vq_steps, batch_size=s.vq_batch, lr=s.vq_lr,
                             warmup_steps=s.vq_steps // 10, sample_every=max(s.vq_steps // 2, 1),
                             save_every=s.vq_steps + 1, log_every=max(s.vq_steps // 10, 1),
                             autocast=s.bf16_matmuls())
    log_dir = run.tokenizers / "logs" / name
    log_dir.mkdir(parents=True, exist_ok=True)
    history = train_dense_tokenizer(tok, batches, settings, out_dir=log_dir, progress=progress)
    tok.save_pretrained(run.tokenizers / name)
    if not progress:
        last = history[-1]
        print(f"tokenizer {name}: {s.vq_steps} steps in {last['seconds']:.0f} s, loss {last['recon_loss']:.4f}, "
              f"codebook {100 * last['codebook_usage']:.1f}%", flush=True)


def rebuild_recipe(registry: Any) -> list[str] | None:
    """The third-party plugin names a fresh process loads to rebuild ``registry``; ``None``
    when one of its plugins is an object that cannot be loaded by name."""
    from fourm_registry.plugins import CORE_PLUGIN, entry_point_names, third_party_plugins

    pm = registry.plugin_manager
    if pm is None:
        return None
    by_name = set(entry_point_names()) | {CORE_PLUGIN}
    names = [name for name, _ in pm.list_name_plugin()]
    if any(name not in by_name for name in names):
        return None
    return sorted(set(names) & set(third_party_plugins()))


def _child(out: str, settings: dict[str, Any], allow: list[str], index: int, name: str, threads: int) -> None:
    """One tokenizer in a spawned process: the same registry, settings and determinism."""
    import torch

    from fourm_registry.allocator import tune_malloc
    from fourm_registry.determinism import deterministic_kernels
    from fourm_registry.registry import Registry

    from .run import Run

    tune_malloc()  # a spawned process starts with glibc's defaults
    torch.set_num_threads(threads)
    run = Run(Path(out), QuickstartSettings.model_validate(settings), Registry.build(allow=allow))
    with deterministic_kernels(warn_only=True):  # as the parent's run
        train_one(run, index, name, progress=False)


def train_dense(run: Any) -> None:
    """Every dense tokenizer not saved yet, ``vq_workers`` at a time."""
    s = run.s
    todo = [(i, name) for i, name in enumerate(DENSE) if not (run.tokenizers / name / "config.json").is_file()]
    workers = min(s.vq_workers, len(todo))
    allow = rebuild_recipe(run.registry) if workers > 1 else None
    if allow is None:
        for index, name in todo:
            train_one(run, index, name)
        return
    threads = max(1, s.threads // workers)
    print(f"training {len(todo)} tokenizers, {workers} at a time, {threads} thread(s) each", flush=True)
    with ProcessPoolExecutor(workers, mp_context=mp.get_context("spawn")) as pool:
        jobs = [pool.submit(_child, str(run.out), s.model_dump(), allow, i, name, threads) for i, name in todo]
        for job in jobs:
            job.result()  # a worker's error is raised here, with its own message
