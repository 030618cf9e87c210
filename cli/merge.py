"""``fourm merge A B --method uniform|width|cross --out C``: fuse two trained checkpoints (JAM)."""
from __future__ import annotations

from pathlib import Path

import typer


def register(app: typer.Typer) -> None:
    @app.command("merge")
    def merge_cmd(
        ctx: typer.Context,
        parent_a: Path = typer.Argument(..., help="Checkpoint A (a fourm export directory)."),
        parent_b: Path = typer.Argument(..., help="Checkpoint B (same family)."),
        method: str = typer.Option("uniform", "--method", help="uniform (weighted average), width (d_A + d_B, "
                                   "JAM-Width) or cross (both trunks + cross-attention, JAM-Cross)."),
        weights: str = typer.Option("0.5,0.5", "--weights", help="Weights of A and B (sum 1): the average "
                                    "(uniform), shared q/k norms (width), shared modalities' heads (cross)."),
        every: int = typer.Option(1, "--every", min=1, help="cross: a fusion layer after every k-th layer."),
        out: Path = typer.Option(..., "--out", help="Directory to write the merged checkpoint to."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace --out if it exists."),
        detail: bool = typer.Option(False, "--detail", help="List every tensor of the plan."),
        dry_run: bool = typer.Option(False, "--dry-run", help="Print the plan and write nothing."),
    ) -> None:
        """Merge two checkpoints; the plan is printed before anything is written."""
        from fourm_registry.merging import merge

        from ._registry import registry_from

        merge(parent_a, parent_b, method, out, weights=weights, every=every, registry=registry_from(ctx),
              echo=typer.echo, overwrite=overwrite, detail=detail, dry_run=dry_run)
