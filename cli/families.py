"""``fourm families``: the registered model families, what each can do, and who provides it."""
from __future__ import annotations

import typer

from ._table import print_rows

COLUMNS = ("name", "default", "config", "data", "features", "generate", "exports", "plugin", "description")


def rows(registry) -> list[dict]:
    out = []
    for name in registry.list_families():
        spec = registry.get_family(name)
        out.append({
            "name": name, "default": "yes" if spec.default else "",
            "config": spec.config.__name__,
            "data": "own" if spec.data is not None else "masked tokens",
            "features": "yes" if spec.encode_features is not None else "missing",
            "generate": "yes" if spec.generator is not None else "n/a",
            "exports": ", ".join(sorted(spec.exports)),  # fourm convert --to TARGET
            "plugin": registry.providers.get(f"family:{name}", "?"), "description": spec.description,
        })
    return out


def register(app: typer.Typer) -> None:
    @app.command("families")
    def families(
        ctx: typer.Context,
        as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    ) -> None:
        """List registered model families (run configs pick one with model.family)."""
        from ._registry import registry_from

        data = rows(registry_from(ctx))
        print_rows(data, COLUMNS, f"{len(data)} model families", as_json)
