"""``fourm modalities``: what the registered plugins declare, and what is still missing."""
from __future__ import annotations

import typer

from ._table import print_rows


def _tokens(spec) -> str:
    grid = spec.tokenizer.grid
    return f"{grid[0]}×{grid[1]}" if grid else f"≤{spec.tokenizer.max_length}"


def _tokenizer(spec) -> str:
    """Input-only kinds (raw pixels, precomputed embeddings) are projected: no tokenizer by design."""
    if spec.has_tokenizer:
        return "yes"
    return "n/a" if spec.input_only else "missing"


def rows(registry) -> list[dict]:
    out = []
    for name in registry.list_modalities():
        spec = registry.get_modality(name)
        labelers = [lab.name for lab in registry.labelers_for(name)]
        out.append({
            "name": name, "kind": spec.kind.value, "vocab": spec.tokenizer.vocab_size,
            "tokens": _tokens(spec), "tokenizer": _tokenizer(spec),
            "labeler": ", ".join(labelers) or "missing", "plugin": registry.provider(name),
        })
    return out


def register(app: typer.Typer) -> None:
    @app.command("modalities")
    def modalities(
        ctx: typer.Context,
        as_json: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
    ) -> None:
        """List registered modalities: kind, vocab, tokens, tokenizer/labeler, plugin."""
        from ._registry import registry_from

        data = rows(registry_from(ctx))
        print_rows(data, ("name", "kind", "vocab", "tokens", "tokenizer", "labeler", "plugin"),
                   f"{len(data)} modalities", as_json, width=140)
