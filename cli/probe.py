"""``fourm probe ENCODER --data SHARDS --label PATH``: attentive probe of a frozen encoder.

ENCODER is a run's export (any model family) or ``hf:PATH_OR_ID`` (a transformers vision model).
Labels come from a field of the shards (dotted path; lists count as their length), or from
``--labels FILE`` beside a folder of images (``--images DIR``).
"""
from __future__ import annotations

import json
from pathlib import Path

import typer


def _split(n: int, seed: int, fraction: float = 0.2) -> tuple[list[int], list[int]]:
    import numpy as np

    order = np.random.default_rng(seed).permutation(n).tolist()
    cut = max(1, int(round(n * fraction)))
    return order[cut:], order[:cut]


def register(app: typer.Typer) -> None:
    @app.command("probe")
    def probe(
        ctx: typer.Context,
        encoder: str = typer.Argument(..., help="A run's export directory, or hf:PATH_OR_ID (transformers)."),
        data: list[str] = typer.Option([], "--data", help="Training shards (path, glob, brace pattern, directory)."),
        val: list[str] = typer.Option([], "--val", help="Held-out shards (default: 20% of --data)."),
        label: list[str] = typer.Option([], "--label", help="Label field, dotted (e.g. scene.visible); repeatable."),
        images: Path | None = typer.Option(None, "--images", help="A folder of your own images (with --labels)."),
        labels_file: Path | None = typer.Option(None, "--labels", help="image<TAB>label lines or a JSON object."),
        image_field: str = typer.Option("rgb", "--image-field", help="Sample field holding the image."),
        out: Path | None = typer.Option(None, "--out", help="Write the accuracies as JSON here."),
        epochs: int = typer.Option(30, "--epochs", min=1),
        lr: float = typer.Option(1e-3, "--lr"),
        batch_size: int = typer.Option(32, "--batch-size", min=1),
        limit: int | None = typer.Option(None, "--limit", min=1, help="Use at most N training samples."),
        seed: int = typer.Option(0, "--seed"),
        device: str = typer.Option("cpu", "--device"),
    ) -> None:
        """Attentive probe: frozen encoder, one learned query (cross-attention pooling), linear classifier."""
        from itertools import islice

        from rich.progress import Progress

        from fourm_registry import FourmError, read_samples
        from fourm_registry.probing import (extract, family_features, fit_probe, image_folder_samples,
                                            transformers_features)

        from ._registry import registry_from

        if images is not None:
            if labels_file is None:
                raise FourmError("--images needs --labels FILE (image<TAB>label lines or a JSON object).")
            train_samples = image_folder_samples(images, labels_file, image_field)
            label = ["label"]
        else:
            if not data or not label:
                raise FourmError("Give --data SHARDS and at least one --label FIELD (or --images DIR --labels FILE).")
            train_samples = list(islice(read_samples(data if len(data) > 1 else data[0]), limit))
        val_samples = list(read_samples(val if len(val) > 1 else val[0])) if val else None
        if encoder.startswith("hf:"):
            features, name = transformers_features(encoder[3:], image_field, device)
        else:
            features, name = family_features(encoder, registry_from(ctx), device)
        total = len(train_samples) + (len(val_samples) if val_samples else 0)
        with Progress(transient=True) as bar:
            task = bar.add_task("features", total=total)
            step = lambda n: bar.advance(task, n)  # noqa: E731
            train_x, train_y = extract(features, train_samples, label, batch_size, step)
            if val_samples is not None:
                val_x, val_y = extract(features, val_samples, label, batch_size, step)
            results = []
            for path in label:
                ys, vys, tx, vx = train_y[path], None, train_x, None
                if val_samples is None:
                    keep, held = _split(len(ys), seed)
                    tx, vx = train_x[keep], train_x[held]
                    ys, vys = [train_y[path][i] for i in keep], [train_y[path][i] for i in held]
                else:
                    vx, vys = val_x, val_y[path]
                fit_task = bar.add_task(f"probe {path}", total=epochs)
                results.append(fit_probe(tx, ys, vx, vys, epochs=epochs, lr=lr, seed=seed, label=path,
                                         encoder=f"{name}:{encoder}",
                                         on_epoch=lambda e, loss, t=fit_task: bar.update(t, completed=e)))
        for r in results:
            typer.echo(f"{r.label}: accuracy {r.accuracy:.3f} (chance {r.chance:.3f}, train {r.train_accuracy:.3f}, "
                       f"{len(r.classes)} classes, {r.n_train} train / {r.n_val} held-out)")
        if out is not None:
            out.parent.mkdir(parents=True, exist_ok=True)
            out.write_text(json.dumps([json.loads(r.to_json()) for r in results], indent=2) + "\n")
