"""``fourm data synth``: write N rendered samples as webdataset shards, deterministically and resumably.

Sample ``i`` of a split depends only on (seed, split, i): its scene and its renderer seed
come from ``numpy.random.default_rng([seed, split id, i])``, so shard contents do not depend
on the worker count and a rerun reproduces them. Splits use disjoint random streams: make
a held-out set with ``--split val`` (same ``--seed``, same ``--out``); shards are named
``<split>-000000.tar``…, keys ``<split>-s<seed>-<index>``. Shards are written under a
temporary name and renamed when complete; existing shards are skipped, so a killed run
resumes where it stopped. ``synth-<split>.json`` in the output directory records the
settings and the class names; a rerun with other settings is refused.
"""
from __future__ import annotations

import itertools
import json
import multiprocessing as mp
import os
import time
from collections import deque
from collections.abc import Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from typing import Any, Literal

import numpy as np
from pydantic import Field

from fourm_registry.config import StrictModel
from fourm_registry.errors import FourmError

from .scene import CLASSES, COLORS, SHAPES, sample_scene

SPLITS = {"train": 0, "val": 1, "test": 2}
FORMAT_VERSION = 1


class FloorSettings(StrictModel):
    """The floor's look: plain, or a checker whose perspective shows the camera's tilt."""

    tile: float = Field(default=0.0, ge=0, le=10, description="side of the checker tiles in metres; 0: a plain floor")
    contrast: float = Field(default=0.15, ge=0, lt=1, description="the tiles' albedo: the floor's × (1 ± this)")


class SynthSettings(StrictModel):
    """What defines a synthetic dataset (the worker count does not change its content)."""

    n: int = Field(gt=0, description="number of samples")
    size: int = Field(default=224, ge=16, le=1024, description="image side in pixels")
    seed: int = Field(default=0, ge=0)
    split: Literal["train", "val", "test"] = "train"
    per_shard: int = Field(default=500, gt=0)
    spp: int = Field(default=16, gt=0, le=1024, description="RGB samples per pixel")
    max_objects: int = Field(default=4, ge=1, le=8)
    floor: FloorSettings = Field(default_factory=FloorSettings)


@dataclass
class SynthReport:
    images: int = 0
    shards_written: int = 0
    shards_skipped: int = 0
    seconds: float = 0.0

    @property
    def images_per_s(self) -> float:
        return self.images / self.seconds if self.seconds > 0 else 0.0


def sample_key(split: str, seed: int, index: int) -> str:
    return f"{split}-s{seed}-{index:07d}"


def shard_name(split: str, j: int) -> str:
    return f"{split}-{j:06d}.tar"


def make_sample(settings: dict[str, Any], index: int) -> dict[str, Any]:
    """Render sample ``index`` (a top-level function so worker processes can run it)."""
    from .render import render

    s = SynthSettings(**settings)
    rng = np.random.default_rng([s.seed, SPLITS[s.split], index])
    scene = sample_scene(rng, max_objects=s.max_objects, floor_tile=s.floor.tile, floor_contrast=s.floor.contrast)
    out = render(scene, size=s.size, spp=s.spp, seed=int(rng.integers(2**31 - 1)))
    out.pop("instances")
    out["__key__"] = sample_key(s.split, s.seed, index)
    return out


def manifest(settings: SynthSettings) -> dict[str, Any]:
    return {"format": FORMAT_VERSION, "settings": settings.model_dump(), "classes": list(CLASSES),
            "shapes": list(SHAPES), "colors": list(COLORS)}


def _check_manifest(out: Path, settings: SynthSettings) -> None:
    path = out / f"synth-{settings.split}.json"
    want = manifest(settings)
    if path.exists():
        have = json.loads(path.read_text())
        if have.get("settings") != want["settings"] or have.get("format") != FORMAT_VERSION:
            raise FourmError(f"{out} already holds a synthetic {settings.split!r} split made with "
                             f"other settings {have.get('settings')}; use another --out, or the "
                             "same settings to resume it")
        return
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text(json.dumps(want, indent=2))
    os.replace(tmp, path)


def _worker_init() -> None:
    import mitsuba as mi

    mi.set_variant("scalar_rgb")


def _samples(settings: SynthSettings, indices: list[int], workers: int) -> Iterator[dict[str, Any]]:
    """Rendered samples in index order; ``workers`` > 1 renders in spawned processes, a few
    samples ahead (a crashed worker raises ``BrokenProcessPool`` instead of hanging)."""
    job = partial(make_sample, settings.model_dump())
    if workers <= 1 or len(indices) < 2:
        yield from map(job, indices)
        return
    ctx = mp.get_context("spawn")  # no fork: mitsuba and rich keep threads
    with ProcessPoolExecutor(workers, mp_context=ctx, initializer=_worker_init) as pool:
        window: deque[Future] = deque()
        todo = iter(indices)
        try:
            for i in itertools.islice(todo, 4 * workers):
                window.append(pool.submit(job, i))
            while window:
                sample = window.popleft().result()
                for i in itertools.islice(todo, 1):
                    window.append(pool.submit(job, i))
                yield sample
        finally:
            for fut in window:
                fut.cancel()


def generate(out_dir: str | os.PathLike, settings: SynthSettings, *, workers: int = 1,
             registry: Any = None, progress: bool = True) -> SynthReport:
    """Render ``settings.n`` samples into ``out_dir``; finished shards are skipped."""
    from rich.console import Console
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    from fourm_registry.labeling import remove_stale_tmp
    from fourm_registry.shards import AtomicShardWriter

    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    _check_manifest(out, settings)
    report = SynthReport()
    per = settings.per_shard
    shards = [(shard_name(settings.split, j), list(range(j * per, min(settings.n, (j + 1) * per))))
              for j in range((settings.n + per - 1) // per)]
    pending = [(name, idx) for name, idx in shards if not (out / name).exists()]
    report.shards_skipped = len(shards) - len(pending)
    start = time.perf_counter()
    columns = [TextColumn("[bold]synth {task.description}"), BarColumn(), MofNCompleteColumn(),
               TextColumn("{task.fields[rate]} img/s"), TimeElapsedColumn()]
    todo = [i for _, idx in pending for i in idx]
    with Progress(*columns, console=Console(stderr=True), disable=not progress) as bar:
        task = bar.add_task(settings.split, total=len(todo), rate="…")
        stream = _samples(settings, todo, workers)
        try:
            for name, idx in pending:
                remove_stale_tmp(out / name)
                with AtomicShardWriter(out / name, registry) as writer:
                    for _ in idx:
                        writer.write(next(stream))
                        report.images += 1
                        rate = report.images / max(time.perf_counter() - start, 1e-9)
                        bar.update(task, advance=1, rate=f"{rate:.1f}")
                report.shards_written += 1
        finally:
            stream.close()  # stops the worker pool, also on errors and Ctrl-C
    report.seconds = time.perf_counter() - start
    return report
