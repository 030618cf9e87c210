"""``fourm tokenize``: pre-tokenise shards with trained tokenizers (resumable, skips bad samples)."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer
from rich.console import Console
from rich.table import Table

console = Console(stderr=True)


def register(app: typer.Typer) -> None:
    @app.command("tokenize")
    def tokenize(
        ctx: typer.Context,
        data: str = typer.Option(..., "--data", help="Input shards (dir, glob or brace pattern)."),
        tokenizers: Optional[Path] = typer.Option(None, "--tokenizers", help="Directory of trained tokenizers."),
        tokenizer: list[str] = typer.Option([], "--tokenizer", help="MODALITY=DIR_OR_HUB_ID (repeatable) or a "
                                            "mapping file: a saved or released 4M tokenizer per modality."),
        out: Path = typer.Option(..., "--out", help="Output directory (shards keep their names)."),
        modalities: str | None = typer.Option(None, "--modalities",
                                              help="Comma-separated subset (default: every saved one)."),
        batch_size: int = typer.Option(32, "--batch-size", min=1),
        device: str = typer.Option("cpu", "--device"),
        layout: str = typer.Option("fourm", "--layout", help="fourm: shards with tok_* members in OUT; ml4m: "
                                   "also OUT/ml4m/<domain>/shard-NNNNN.tar (ml-4m's per-modality token files)."),
    ) -> None:
        """Add tok_<modality> arrays to every sample; finished output shards are skipped."""
        from fourm_registry.tokenizers import load_tokenizers
        from fourm_registry.tokenizers.sources import parse_tokenizer_sources
        from fourm_registry.tokenizers.tokenize_job import tokenize_shards

        from ._registry import registry_from

        registry = registry_from(ctx)
        names = [n.strip() for n in modalities.split(",") if n.strip()] if modalities else None
        toks = load_tokenizers(tokenizers, registry, names, parse_tokenizer_sources(tokenizer))
        for tok in toks.values():
            if hasattr(tok, "to"):
                tok.to(device)
        console.print(f"Tokenizing {', '.join(sorted(toks)) or 'nothing'} → {out}")

        def on_shard(path: str, status: str) -> None:
            console.print(f"  {Path(path).name}: {status}")

        if layout not in ("fourm", "ml4m"):
            raise typer.BadParameter("--layout must be 'fourm' or 'ml4m'.")
        report = tokenize_shards(data, toks, registry, out, batch_size, on_shard)
        if layout == "ml4m":
            from fourm_registry.interop.ml4m.token_layout import export_ml4m_tokens

            for domain, n in sorted(export_ml4m_tokens(out, registry, out / "ml4m").items()):
                console.print(f"  ml-4m layout: {n} token files in {out / 'ml4m' / domain}")
        table = Table(title="fourm tokenize")
        table.add_column("what")
        table.add_column("count", justify="right")
        rows = [("shards written", report.shards_written), ("shards skipped (done)", report.shards_skipped),
                ("samples written", report.samples_written), ("bad samples skipped", report.bad_samples)]
        rows += [(f"tok_{name}", n) for name, n in sorted(report.tokens.items())]
        for what, n in rows:
            table.add_row(what, str(n))
        console.print(table)
        for reason, n in sorted(report.reasons.items(), key=lambda kv: -kv[1]):
            console.print(f"[yellow]  {n} × {reason}[/]")
        if report.samples_written:
            console.print(f"{report.samples_written / max(report.seconds, 1e-9):.1f} samples/s")
