"""``fourm masking preview CONFIG --out masks.png``: see what a training config's masking samples."""
from __future__ import annotations

import json
from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Inspect the masking mixture of a training config.", no_args_is_help=True)
    app.add_typer(group, name="masking")

    @group.command("preview")
    def preview(
        ctx: typer.Context,
        config: Path = typer.Argument(..., help="Training config (YAML)."),
        out: Path = typer.Option(Path("masks.png"), "--out", help="PNG to write (parents are created)."),
        samples: int = typer.Option(4, "--samples", min=1, help="Samples whose masks are drawn."),
        draws: int = typer.Option(2000, "--draws", min=1, help="Budget draws for the histograms."),
        seed: int = typer.Option(0, "--seed"),
        overrides: list[str] = typer.Option([], "--set", help="Override a config value: key.path=value."),
        as_json: bool = typer.Option(False, "--json", help="Print the budget summary as JSON."),
    ) -> None:
        """Draw sampled input/target masks per modality and histograms of the budgets per mixture component."""
        from fourm_registry.config import load_config
        from fourm_registry.masking.preview import preview as draw_preview
        from fourm_registry.training import TrainConfig
        from fourm_registry.training.build import resolve_modalities
        from fourm_registry.training.data import restrict_roles

        from ._registry import registry_from

        cfg = load_config(TrainConfig, config, list(overrides))
        registry, specs = resolve_modalities(cfg.modalities, registry_from(ctx))
        masking = restrict_roles(cfg.masking, cfg.modalities, specs)
        image, stats = draw_preview(masking, specs, samples, draws, seed)
        out.parent.mkdir(parents=True, exist_ok=True)
        image.save(out)
        summary = stats.summary()
        if as_json:
            typer.echo(json.dumps({"out": str(out), "components": summary}))
            return
        typer.echo(f"Wrote {out} ({image.width}×{image.height}).")
        for row in summary:
            parts = ", ".join(f"{m} {v['input_mean']:.1f}/{v['target_mean']:.1f}" for m, v in row.items()
                              if isinstance(v, dict))
            typer.echo(f"  {row['component']} ({row['draws']} draws): mean input/target tokens: {parts}")
