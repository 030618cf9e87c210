"""``fourm quickstart``: the main job end to end on the embedded synthetic data."""
from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("quickstart")
    def quickstart(
        ctx: typer.Context,
        out: Path = typer.Option(Path("runs/demo"), "--out", help="Run directory."),
        preset: str = typer.Option("demo", "--preset",
                                   help="demo (16–50 min on 2 cores, by CPU kind), fast (≈3.5 min, the test suite's) "
                                        "or smoke (≈1 min, every stage tiny)."),
        overrides: list[str] = typer.Option([], "--set", help="Change a setting: key=value (repeatable)."),
    ) -> None:
        """Synth data → tokenizers → tokenize → train → generate → report (stages already done are skipped)."""
        from fourm_quickstart.pipeline import run_all
        from fourm_quickstart.settings import QuickstartSettings
        from fourm_registry.config import ConfigError, parse_overrides, validate_config

        from ._registry import registry_from

        if preset not in ("demo", "fast", "smoke"):
            raise ConfigError(f"--preset must be 'demo', 'fast' or 'smoke', not {preset!r}.")
        base = QuickstartSettings.preset(preset).model_dump()
        settings = validate_config(QuickstartSettings, {**base, **parse_overrides(overrides)},
                                   "quickstart settings")
        report = run_all(out, settings, registry_from(ctx))
        typer.echo(str(report))
