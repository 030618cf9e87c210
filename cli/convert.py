"""``fourm convert --to ml4m|fourm SRC OUT``: write a model in the released ml-4m layout, or in fourm's.

``--to ml4m``: a fourm export (or an ml-4m directory) → ``config.json`` + ``model.safetensors``
that ml-4m's ``FM.from_pretrained`` loads. ``--to fourm``: a released 4M checkpoint (directory
or Hub id) → fourm's ``save_pretrained`` layout. Each file is written atomically; an official →
fourm → official round trip gives back every tensor byte for byte. Any other ``--to`` is a target
a model family offers (``exports``, e.g. AIMv2's ``transformers``): the export's family writes it.
"""
from __future__ import annotations

import json
from enum import Enum
from pathlib import Path

import typer


class Layout(str, Enum):
    ml4m = "ml4m"
    fourm = "fourm"


def register(app: typer.Typer) -> None:
    @app.command("convert")
    def convert(
        ctx: typer.Context,
        source: str = typer.Argument(..., help="Model directory (fourm or ml-4m layout) or Hub id."),
        out: Path = typer.Argument(..., help="Directory to write."),
        to: str = typer.Option(..., "--to", help="Layout to write: ml4m (apple/ml-4m), fourm, or a target a "
                               "model family offers (e.g. transformers; see `fourm families`)."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace model files already in OUT."),
    ) -> None:
        """Convert a model between fourm's layout and the released ml-4m one, or to a family's target."""
        from fourm_registry import FourmError
        from fourm_registry.interop.ml4m.write import save_official
        from fourm_registry.model import FourM

        from ._registry import registry_from

        if to not in {layout.value for layout in Layout}:
            _convert_family_export(source, out, to, registry_from(ctx), overwrite)
            return
        if (out / "model.safetensors").exists() and not overwrite:
            raise FourmError(f"{out} already holds a model.safetensors; pass --overwrite to replace it.")
        model = FourM.from_pretrained(source, registry_from(ctx))
        written = save_official(model, out) if to == Layout.ml4m.value else model.save_pretrained(out)
        typer.echo(json.dumps({"from": source, "to": to, "out": str(written),
                               "modalities": list(model.specs),
                               "parameters": sum(p.numel() for p in model.parameters())}))


def _convert_family_export(source: str, out: Path, to: str, registry: object, overwrite: bool) -> None:
    """``--to TARGET`` of a model family (``exports``): the export's family writes the target layout."""
    from fourm_registry import FourmError
    from fourm_registry.families.export import convert_export, export_targets

    targets = export_targets(registry)
    if to not in targets:
        offered = ", ".join([layout.value for layout in Layout] + sorted(targets))
        raise FourmError(f"--to {to!r}: unknown layout (offered: {offered}).")
    if out.exists() and any(out.iterdir()) and not overwrite:
        raise FourmError(f"{out} is not empty; pass --overwrite to write into it.")
    written = convert_export(source, out, to, registry)
    typer.echo(json.dumps({"from": source, "to": to, "out": str(written)}))
