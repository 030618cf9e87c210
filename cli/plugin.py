"""``fourm plugin new`` (scaffold a plugin distribution) and ``fourm plugin check`` (the conformance kit)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import typer

from fourm_registry import FourmError

from ._registry import registry_from
from .scaffold import write
from .scaffold_kinds import KINDS


def modalities_of(registry: Any, name: str | None) -> list[str]:
    """The modalities plugin ``name`` registers (or the modality called ``name``); all when ``None``."""
    every = registry.list_modalities()
    if name is None:
        return every
    mine = [m for m in every if registry.provider(m) == name]
    if mine:
        return mine
    if name in every:
        return [name]
    plugins = sorted({registry.provider(m) for m in every})
    raise FourmError(f"No installed plugin or modality called {name!r} (plugins: {', '.join(plugins)}).")


def run_checks(registry: Any, names: list[str], only: list[str] | None = None) -> dict[str, dict[str, str]]:
    """``{modality: {check: "ok" | "skipped: …" | "FAILED: …"}}``; a failure never stops the others."""
    from fourm_registry.testing import CHECKS, ConformanceSkip

    checks = only or list(CHECKS)
    unknown = [c for c in checks if c not in CHECKS]
    if unknown:
        raise FourmError(f"Unknown check(s) {', '.join(unknown)}; known: {', '.join(CHECKS)}.")
    report: dict[str, dict[str, str]] = {}
    for name in names:
        row = report.setdefault(name, {})
        for check in checks:
            try:
                CHECKS[check](registry, name)
                row[check] = "ok"
            except ConformanceSkip as exc:
                row[check] = f"skipped: {exc}"
            except Exception as exc:  # the kit's verdict on a plugin: report it, go on
                row[check] = f"FAILED: {type(exc).__name__}: {exc}".strip()
    return report


def register(app: typer.Typer) -> None:
    group = typer.Typer(help="Write and check modality plugins.", no_args_is_help=True)
    app.add_typer(group, name="plugin")

    @group.command("new")
    def new(
        name: str = typer.Argument(..., help="Modality name (also the plugin's entry-point name)."),
        kind: str = typer.Option("dense", "--kind", help=f"One of: {', '.join(KINDS)}."),
        out: Path = typer.Option(Path("."), "--out", help="Folder to create fourm-NAME/ in (created if missing)."),
        force: bool = typer.Option(False, "--force", help="Overwrite an existing non-empty folder."),
    ) -> None:
        """Scaffold a plugin distribution that installs and passes its own tests unchanged."""
        root = write(name, kind, out, force=force)
        typer.echo(f"Wrote {root} ({kind} modality {name!r}). Next:\n"
                   f"  pip install -e {root}[test] && pytest {root}/tests\n"
                   f"  fourm plugin check {name}")

    @group.command("check")
    def check(
        ctx: typer.Context,
        name: str = typer.Argument(None, help="Installed plugin (or modality) to check; all when omitted."),
        only: str = typer.Option("", "--only", help="Comma-separated checks (declaration,codec,tokenizer,"
                                                    "masking,model,draw); all by default."),
        as_json: bool = typer.Option(False, "--json", help="Print the report as JSON."),
    ) -> None:
        """Run the conformance kit (fourm_registry.testing) over installed modalities; exit 1 on a failure."""
        registry = registry_from(ctx)
        report = run_checks(registry, modalities_of(registry, name),
                            [c.strip() for c in only.split(",") if c.strip()] or None)
        failed = sum(v.startswith("FAILED") for row in report.values() for v in row.values())
        if as_json:
            typer.echo(json.dumps(report, indent=2))
        else:
            for modality, row in report.items():
                typer.echo(f"{modality} ({registry.provider(modality)}):")
                for check_name, verdict in row.items():
                    typer.echo(f"  {check_name:<12} {verdict}")
            typer.echo(f"{len(report)} modalities, {failed} failed checks.")
        if failed:
            raise typer.Exit(1)
