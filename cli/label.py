"""``fourm label``: pseudo-label RGB (+caption) data into aligned multimodal shards."""
from __future__ import annotations

import json
from pathlib import Path

import typer

from fourm_registry.errors import FourmError


def _pairs(values: list[str], option: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for item in values:
        name, sep, value = item.partition("=")
        if not sep or not name.strip() or not value.strip():
            raise FourmError(f"{option} expects MODALITY=VALUE, got {item!r}")
        out[name.strip()] = value.strip()
    return out


def _quiet_transformers() -> None:
    """transformers' per-load progress bars and torchvision notices drown the run's own bar."""
    from transformers.utils import logging as hf_logging

    hf_logging.set_verbosity_error()
    hf_logging.disable_progress_bar()


def print_report(report, console) -> None:
    from rich.table import Table

    table = Table(title="fourm label", show_header=False)
    table.add_row("images labeled", str(report.images))
    table.add_row("images/s", f"{report.images_per_s:.2f}")
    table.add_row("shards written / already done", f"{report.shards_written} / {report.shards_skipped}")
    for reason, n in sorted(report.skipped.items()):
        table.add_row(f"skipped: {reason}", str(n))
    for what, n in sorted(report.converted.items()):
        table.add_row(f"converted to RGB: {what}", str(n))
    table.add_row("missing captions", str(report.missing_captions))
    table.add_row("ignored shard members", str(report.ignored_members))
    for name, sec in report.labeler_seconds.items():
        table.add_row(f"{name} labeler", f"{report.images / sec:.2f} img/s" if sec > 0 else "–")
    console.print(table)


def register(app: typer.Typer) -> None:
    @app.command("label")
    def label(
        ctx: typer.Context,
        inputs: list[str] = typer.Argument(..., help="img2dataset (or fourm) shards: paths, globs, "
                                           "brace patterns like 'data/{00000..00009}.tar', a directory "
                                           "of tars; or a folder of images."),
        out: Path = typer.Option(..., "--out", help="Output directory of labeled shards."),
        modalities: str = typer.Option(..., "--modalities", "-m",
                                       help="Comma-separated modalities to label, e.g. depth,normal."),
        model: list[str] = typer.Option([], "--model", help="MODALITY=MODEL_ID_OR_DIR (repeatable); "
                                        "default: the plugin's default model."),
        labeler: list[str] = typer.Option([], "--labeler", help="MODALITY=LABELER_NAME to use "
                                          "another registered labeler (repeatable)."),
        device: str = typer.Option("auto", "--device", help="auto, cpu, mps or cuda[:N] (bf16/fp16 on GPU)."),
        batch_size: int = typer.Option(8, "--batch-size", min=1),
        limit: int | None = typer.Option(None, "--limit", min=1, help="Label at most N images in this run."),
        per_shard: int = typer.Option(1000, "--per-shard", min=1, help="Images per output shard (folder input)."),
        captions: Path | None = typer.Option(None, "--captions", help="Folder input: JSON {image: caption} "
                                             "or 'image<TAB>caption' lines (else <image>.txt beside it)."),
        min_size: int = typer.Option(32, "--min-size", min=1, help="Skip images smaller than this (px)."),
        image_field: str = typer.Option("rgb", "--image-field", help="Modality that stores the image."),
        caption_field: str = typer.Option("caption", "--caption-field", help="Modality that stores the caption."),
        quiet: bool = typer.Option(False, "--quiet", "-q", help="No progress bar or report table."),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        """Label images with one pseudo-labeler per modality; resumable (finished shards are skipped)."""
        from rich.console import Console

        from fourm_registry.labeling.inputs import open_sources
        from fourm_registry.labeling import build_labelers, label_shards, resolve_device

        from ._registry import registry_from

        registry = registry_from(ctx)
        names = [m.strip() for m in modalities.split(",") if m.strip()]
        if not names:
            raise FourmError("--modalities names no modality")
        registry.select(names)
        sources = open_sources(inputs if len(inputs) > 1 else inputs[0], per_shard=per_shard,
                               captions=captions, image_field=image_field, caption_field=caption_field)
        _quiet_transformers()
        dev = resolve_device(device)
        labelers = build_labelers(registry, names, dev, models=_pairs(model, "--model"),
                                  labeler_names=_pairs(labeler, "--labeler"))
        console = Console(stderr=True)
        report = label_shards(sources, out, labelers, registry, image_field=image_field,
                              caption_field=caption_field, batch_size=batch_size, limit=limit,
                              min_size=min_size, progress=not quiet, console=console)
        if as_json:
            typer.echo(json.dumps(report.as_dict(), indent=2))
        elif not quiet:
            print_report(report, console)
