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
                                   help="demo (≈26 min on 2 cores) or fast (≈3.5 min, the test suite's)."),
        overrides: list[str] = typer.Option([], "--set", help="Change a setting: key=value (repeatable)."),
    ) -> None:
        """Synth data → tokenizers → tokenize → train → generate → report (stages already done are skipped)."""
        from fourm_quickstart.pipeline import run_all
        from fourm_quickstart.settings import QuickstartSettings
        from fourm_registry.config import ConfigError, parse_overrides, validate_config

        from ._registry import registry_from

        if preset not in ("demo", "fast"):
            raise ConfigError(f"--preset must be 'demo' or 'fast', not {preset!r}.")
        base = QuickstartSettings.preset(preset).model_dump()
        settings = validate_config(QuickstartSettings, {**base, **parse_overrides(overrides)},
                                   "quickstart settings")
        report = run_all(out, settings, registry_from(ctx))
        typer.echo(str(report))
