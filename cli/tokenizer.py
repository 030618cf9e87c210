"""``fourm tokenizer train``: train a text vocabulary or a modality's VQ-VAE / DiVAE tokenizer."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Optional

import typer
from rich.console import Console

from fourm_registry import FourmError
from fourm_registry.config import ConfigError, parse_overrides
from fourm_registry.spec import ModalityKind
from fourm_registry.tokenizers.presets import PRESETS, settings_help

console = Console(stderr=True)


def _train_text(registry: Any, name: str, corpus: list[Path], data: str | None, out: Path,
                vocab_size: int | None, min_frequency: int) -> None:
    from fourm_registry.shards import ReadStats
    from fourm_registry.tokenizers.sequence import (
        corpus_from_files, corpus_from_shards, sharing_specs, train_text_tokenizer,
    )

    specs = sharing_specs(registry, name)
    if not corpus and not data:
        raise FourmError("Give --corpus FILE (one text per line) and/or --data SHARDS to train on.")
    stats = ReadStats()

    def lines():
        yield from corpus_from_files(corpus)
        if data:
            yield from corpus_from_shards(data, registry, specs, stats)

    size = vocab_size or max(s.tokenizer.vocab_size for s in specs)
    text = train_text_tokenizer(lines(), registry, name, size, min_frequency)
    text.save_pretrained(out)
    from fourm_registry.tokenizers.vocab import describe, write_vocab_info

    console.print(describe(write_vocab_info(out, text, specs, size)))
    console.print(f"[green]Text tokenizer {name!r}[/] ({text.vocab_size} ids, shared by "
                  f"{', '.join(s.name for s in specs)}) → {out / 'tokenizer.json'}")
    if stats.skipped:
        console.print(f"[yellow]Skipped {stats.skipped} samples/values:[/] {stats.reasons}")


def _train_dense(registry: Any, spec: Any, data: str | None, out: Path, opts: dict[str, Any],
                 model_overrides: dict[str, Any], progress: bool, arch: str = "fourm",
                 init: str | None = None) -> None:
    from fourm_registry.shards import ReadStats
    from fourm_registry.tokenizers import DenseTokenizerFactory
    from fourm_registry.tokenizers.data import dense_batches
    from fourm_registry.tokenizers.training import TrainSettings, train_dense_tokenizer

    factory = spec.tokenizer.factory
    if not isinstance(factory, DenseTokenizerFactory):
        raise FourmError(f"Modality {spec.name!r} has no VQ tokenizer that fourm can train.")
    if not data:
        raise FourmError(f"Give --data SHARDS holding {spec.name!r} values to train on.")
    settings = TrainSettings(**{k: v for k, v in opts.items() if v is not None})
    if init is not None:  # continue a saved or released tokenizer (e.g. at another resolution)
        if model_overrides:
            raise FourmError("--init keeps the tokenizer's own architecture; drop --set/--decoder.")
        tokenizer = factory(spec, init)
    elif arch == "ml4m":  # the released 4M architectures (ViT VQ-VAE / DiVAE), saved in their layout
        from fourm_registry.interop.ml4m.fresh import fresh_released_dense

        adapter = factory.adapter(spec)
        decoder = {"conv": "vit"}.get(model_overrides.get("decoder", ""), model_overrides.get("decoder")) or \
            ("diffusion" if adapter.diffusion else "vit")
        if model_overrides.get("replace_dead_codes") is False:
            model_overrides["threshold_ema_dead_code"] = 0.0
        extra = {k: v for k, v in model_overrides.items() if k not in ("decoder", "replace_dead_codes")}
        if "threshold_ema_dead_code" not in extra:  # ml-4m: uniform code count per batch / 32
            grid = spec.tokenizer.grid or (1, 1)
            extra["threshold_ema_dead_code"] = settings.batch_size * grid[0] * grid[1] / spec.tokenizer.vocab_size / 32
        tokenizer = fresh_released_dense(spec, adapter, decoder, **extra)
    else:
        tokenizer = factory.fresh(spec, **model_overrides)
    size = tokenizer.adapter.input_size(spec)
    stats = ReadStats()
    batches = dense_batches(tokenizer, data, registry, settings.batch_size, size, settings.seed, stats=stats)
    n_params = sum(p.numel() for p in tokenizer.model.parameters())
    console.print(f"Training the {spec.name!r} tokenizer: {tokenizer.config.decoder} decoder, "
                  f"{tokenizer.vocab_size} codes, {size} px inputs, {n_params / 1e6:.1f} M parameters")
    import time

    started = time.perf_counter()
    history = train_dense_tokenizer(tokenizer, batches, settings, out, progress=progress,
                                    on_log=None if progress else lambda r: console.print(json.dumps(r)))
    last = history[-1]
    console.print(f"{n_params / 1e6:.2f} M parameters, "
                  f"{1000 * (time.perf_counter() - started) / settings.steps:.0f} ms/step "
                  f"(batch {settings.batch_size}, {size} px, device {settings.device})")
    console.print(f"[green]Saved[/] {out} — reconstruction loss {last['recon_loss']:.4f}, "
                  f"codebook usage {100 * last['codebook_usage']:.1f}% (last {settings.log_every} steps)")
    if stats.skipped:
        console.print(f"[yellow]Skipped {stats.skipped} bad values (each pass over the data counts "
                      f"again):[/] {stats.reasons}")


def register(app: typer.Typer) -> None:
    sub = typer.Typer(help="Train tokenizers (text vocabulary, VQ-VAE / DiVAE).", no_args_is_help=True)
    app.add_typer(sub, name="tokenizer")

    @sub.command("train")
    def train(
        ctx: typer.Context,
        name: str = typer.Argument(..., help="A modality, or a shared text vocabulary such as 'text'."),
        out: Path = typer.Option(..., "--out", help="Directory to write the tokenizer to."),
        data: str | None = typer.Option(None, "--data", help="Training shards (dir, glob or brace pattern)."),
        corpus: list[Path] = typer.Option([], "--corpus", help="Text files, one text per line (text)."),
        vocab_size: int | None = typer.Option(None, "--vocab-size", help="Vocabulary / codebook size."),
        min_frequency: int = typer.Option(2, "--min-frequency", help="Text: min pair frequency."),
        image_size: int | None = typer.Option(None, "--image-size", help="Dense: training resolution."),
        patch_size: int | None = typer.Option(None, "--patch-size", help="Dense: pixels per token side."),
        decoder: str | None = typer.Option(None, "--decoder", help="Dense: 'conv' or 'diffusion' (DiVAE)."),
        steps: int | None = typer.Option(None, "--steps"),
        batch_size: int | None = typer.Option(None, "--batch-size"),
        lr: float | None = typer.Option(None, "--lr"),
        log_every: int | None = typer.Option(None, "--log-every"),
        sample_every: int | None = typer.Option(None, "--sample-every", help="Save reconstructions (PNG)."),
        save_every: int | None = typer.Option(None, "--save-every"),
        device: str | None = typer.Option(None, "--device"),
        no_dead_code_replacement: bool = typer.Option(False, "--no-dead-code-replacement"),
        sets: list[str] = typer.Option([], "--set", help="Dense: a VQ-VAE setting KEY=VALUE (repeatable, wins over "
                                       "--preset). " + settings_help()),
        preset: str | None = typer.Option(None, "--preset", help=f"Dense: model size and training length, one of "
                                          f"{', '.join(PRESETS)} (tiny: a laptop toy run; base: the default)."),
        progress: bool = typer.Option(True, "--progress/--no-progress"),
        init: Optional[str] = typer.Option(None, "--init", help="Dense: continue training this tokenizer "
                                           "(directory or hub id, e.g. a released 224 one at --image-size 448)."),
        arch: str = typer.Option("fourm", "--arch", help="Dense: 'fourm' (conv VQ-VAE) or 'ml4m' (the released "
                                 "4M ViT VQ-VAE / DiVAE, saved in their layout; --set dim=, blocks=, …)."),
    ) -> None:
        """Train NAME's tokenizer and save it to --out (load it back with --tokenizers)."""
        from ._registry import registry_from

        registry = registry_from(ctx)
        if name in registry.modalities:
            spec = registry.get_modality(name)
            if spec.kind is ModalityKind.SEQUENCE:
                _train_text(registry, spec.tokenizer.shared or spec.name, corpus, data, out,
                            vocab_size, min_frequency)
                return
            if spec.input_only:
                raise FourmError(f"Modality {name!r} ({spec.kind.value}) is input-only and has no tokenizer.")
            changes = {k: v for k, v in {"vocab_size": vocab_size, "image_size": image_size,
                                        "patch_size": patch_size}.items() if v is not None}
            if changes:
                spec = registry.with_overrides({name: changes}).get_modality(name)
            model = parse_overrides(sets)
            if preset is not None:
                from fourm_registry.tokenizers import DenseTokenizerFactory
                from fourm_registry.tokenizers.presets import preset_overrides

                factory = spec.tokenizer.factory
                levels = factory.adapter(spec).config(spec).levels if isinstance(factory, DenseTokenizerFactory) else 1
                sized, training = preset_overrides(preset, levels)
                model = {**sized, **model}
                steps = training["steps"] if steps is None else steps
                batch_size = training["batch_size"] if batch_size is None else batch_size
            if decoder is not None:
                if decoder not in ("conv", "diffusion"):
                    raise ConfigError(f"--decoder must be 'conv' or 'diffusion', not {decoder!r}.")
                model["decoder"] = decoder
            if no_dead_code_replacement:
                model["replace_dead_codes"] = False
            opts = {"steps": steps, "batch_size": batch_size, "lr": lr, "log_every": log_every,
                    "sample_every": sample_every, "save_every": save_every, "device": device}
            if arch not in ("fourm", "ml4m"):
                raise ConfigError(f"--arch must be 'fourm' or 'ml4m', not {arch!r}.")
            _train_dense(registry, spec, data, out, opts, model, progress, arch, init)
            return
        _train_text(registry, name, corpus, data, out, vocab_size, min_frequency)
