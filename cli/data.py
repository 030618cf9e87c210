"""``fourm data``: datasets. ``fourm data synth`` renders the embedded synthetic dataset."""
from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Optional

import typer


def register(app: typer.Typer) -> None:
    data = typer.Typer(no_args_is_help=True, help="Datasets: the embedded synthetic dataset.")
    app.add_typer(data, name="data")

    @data.command("synth")
    def synth(
        ctx: typer.Context,
        out: Path = typer.Option(..., "--out", help="Output directory of shards."),
        n: int = typer.Option(..., "--n", min=1, help="Number of samples."),
        size: int = typer.Option(224, "--size", min=16, max=1024, help="Image side in pixels."),
        seed: int = typer.Option(0, "--seed", min=0),
        split: str = typer.Option("train", "--split", help="train, val or test: disjoint random "
                                  "streams, shards named <split>-NNNNNN.tar."),
        per_shard: int = typer.Option(500, "--per-shard", min=1),
        spp: int = typer.Option(16, "--spp", min=1, help="RGB samples per pixel."),
        max_objects: int = typer.Option(4, "--max-objects", min=1, max=8),
        floor_tile: Optional[float] = typer.Option(None, "--floor-tile", min=0, help="Side of the floor's checker "
                                                   "tiles in metres (shows the camera's tilt); default 0: a plain floor."),
        floor_contrast: Optional[float] = typer.Option(None, "--floor-contrast", min=0, help="Checker tiles' albedo: "
                                                       "the floor's x (1 +/- this); default 0.15."),
        workers: int = typer.Option(1, "--workers", min=1, help="Render processes (Mitsuba already "
                                    "uses every core in one; more help on many-core machines)."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar."),
    ) -> None:
        """Render N procedural scenes with exact rgb/depth/normal/semseg/det/caption (deterministic per seed)."""
        from pydantic import ValidationError

        from fourm_synth.generate import SynthSettings, generate
        from fourm_registry.config import ConfigError

        from ._registry import registry_from

        try:
            settings = SynthSettings(n=n, size=size, seed=seed, split=split, per_shard=per_shard,
                                     spp=spp, max_objects=max_objects,
                                     floor={k: v for k, v in (("tile", floor_tile), ("contrast", floor_contrast))
                                            if v is not None})  # unset: FloorSettings' defaults
        except ValidationError as exc:
            raise ConfigError(f"Invalid synth settings:\n{exc}") from exc
        report = generate(out, settings, workers=min(workers, os.cpu_count() or 1),
                          registry=registry_from(ctx), progress=not quiet)
        typer.echo(json.dumps({"out": str(out), "images": report.images,
                               "shards_written": report.shards_written,
                               "shards_skipped": report.shards_skipped,
                               "images_per_s": round(report.images_per_s, 2)}))
