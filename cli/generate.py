"""``fourm generate``: any-to-any generation from a saved checkpoint, with pictures."""
from __future__ import annotations

from pathlib import Path
from typing import Optional

import typer


def _split(values: list[str]) -> list[str]:
    return [v.strip() for item in values for v in item.split(",") if v.strip()]


def register(app: typer.Typer) -> None:
    @app.command("generate")
    def generate(
        ctx: typer.Context,
        checkpoint: Path = typer.Option(..., "--checkpoint", help="Directory written by save_pretrained."),
        out: Path = typer.Option(..., "--out", help="Output directory (must be new or empty)."),
        cond: list[str] = typer.Option([], "--cond", help="NAME=FILE, NAME=\"text\", tok_NAME=ids.npy; "
                                       "NAME@TAG=… holds a guidance-only value (negative prompt)."),
        target: list[str] = typer.Option([], "--target", help="Modalities to generate, in order "
                                         "(comma-separated or repeated)."),
        schedule: Optional[str] = typer.Option(None, "--schedule", help="'a->b:steps=8,…' or a YAML file."),
        mask: list[str] = typer.Option([], "--mask", help="NAME=box:x0,y0,x1,y1 | outside:… | mask.png: "
                                       "grid cells of a condition to (re)generate."),
        seed: int = typer.Option(0, "--seed", help="Random seed (same seed, same output)."),
        samples: int = typer.Option(1, "--samples", min=1, help="Samples per condition set."),
        temperature: Optional[float] = typer.Option(None, "--temperature", min=0.0,
                                                    help="Default temperature; 0 = greedy."),
        steps: Optional[int] = typer.Option(None, "--steps", min=1, help="Default MaskGIT/ROAR steps."),
        guidance: Optional[float] = typer.Option(None, "--guidance", help="Default guidance scale."),
        top_k: Optional[float] = typer.Option(None, "--top-k", min=0.0, help="Default top-k (count, or fraction < 1)."),
        top_p: Optional[float] = typer.Option(None, "--top-p", min=0.0, max=1.0, help="Default nucleus mass."),
        tokenizers: Optional[Path] = typer.Option(None, "--tokenizers",
                                                  help="Tokenizers directory (default CHECKPOINT/tokenizers)."),
        tokenizer: list[str] = typer.Option([], "--tokenizer", help="MODALITY=DIR_OR_HUB_ID (repeatable) or a "
                                            "mapping file; wins over --tokenizers for that modality."),
        device: str = typer.Option("cpu", "--device", help="torch device."),
        no_cache: bool = typer.Option(False, "--no-cache", help="Decode sequences without the KV cache."),
        overwrite: bool = typer.Option(False, "--overwrite", help="Replace a non-empty --out."),
    ) -> None:
        """Generate TARGET modalities from the given conditions; write pictures, text and token ids."""
        from fourm_registry.generation.pipeline import GenerateRequest, generate_to_dir
        from fourm_registry.tokenizers.sources import parse_tokenizer_sources

        from ._registry import registry_from

        k = None if top_k is None else (int(top_k) if top_k >= 1 and float(top_k).is_integer() else top_k)
        req = GenerateRequest(
            checkpoint=checkpoint, out=out, conds=list(cond), masks=list(mask), targets=_split(target),
            schedule=schedule, seed=seed, samples=samples, tokenizers=tokenizers, device=device,
            tokenizer_sources=parse_tokenizer_sources(tokenizer),
            use_cache=not no_cache, overwrite=overwrite,
            defaults={"temperature": temperature, "steps": steps, "guidance": guidance, "top_k": k,
                      "top_p": top_p},
        )
        dirs = generate_to_dir(req, registry_from(ctx), log=lambda m: typer.echo(m, err=True))
        typer.echo(f"Wrote {len(dirs)} sample(s) to {out}")
