"""``fourm inspect PATH``: what a shard, a checkpoint or a tokenizer holds, and where it came from."""
from __future__ import annotations

import json
from collections import Counter
from pathlib import Path
from typing import Any

import typer

from fourm_registry import FourmError


def inspect_shards(path: Path) -> dict[str, Any]:
    """Samples, member counts per field, and the distinct provenance records of labels and tokens."""
    from fourm_registry.provenance import PROVENANCE_MEMBER, decode_member
    from fourm_registry.shards import ReadStats, expand_shards, iter_raw

    urls = expand_shards(str(path))
    if not urls:
        raise FourmError(f"{path}: no .tar shards there.")
    fields: Counter[str] = Counter()
    labels: dict[str, dict[str, Any]] = {}
    tokens: dict[str, Counter[str]] = {}
    stats, samples, unrecorded = ReadStats(), 0, 0
    for raw in iter_raw(urls, stats, bad_shards="skip"):
        samples += 1
        fields.update(s.split(".", 1)[0] for s in raw if not s.startswith("__"))
        prov = decode_member(raw.get(PROVENANCE_MEMBER))
        if prov is None:
            unrecorded += 1
            continue
        for name, rec in (prov.get("labels") or {}).items():
            key = json.dumps(rec, sort_keys=True)
            entry = labels.setdefault(name, {}).setdefault(key, {"record": rec, "samples": 0})
            entry["samples"] += 1
        for name, rec in (prov.get("tokens") or {}).items():
            tokens.setdefault(name, Counter())[f"{rec.get('tokenizer')} {rec.get('fingerprint')}"] += 1
    fields.pop("fourm_provenance", None)
    return {"kind": "shards", "path": str(path), "shards": len(urls), "samples": samples,
            "fields": dict(sorted(fields.items())), "samples_without_provenance": unrecorded,
            "labels": {n: list(v.values()) for n, v in sorted(labels.items())},
            "tokens": {n: [{"tokenizer": k.split(" ")[0], "fingerprint": k.split(" ", 1)[1], "samples": c}
                           for k, c in v.items()] for n, v in sorted(tokens.items())},
            "skipped": dict(stats.reasons)}


def inspect_checkpoint(path: Path) -> dict[str, Any]:
    from fourm_registry.provenance import read_export_provenance, tokenizer_fingerprint

    config = json.loads((path / "config.json").read_text())
    prov = read_export_provenance(path) or {}
    included = {}
    for name, rec in (prov.get("tokenizers") or {}).items():
        d = path / "tokenizers" / rec["tokenizer"]
        ok = d.is_dir() and tokenizer_fingerprint(d) == rec["fingerprint"]
        included[name] = {**rec, "present": d.is_dir(), "fingerprint_matches": ok}
    model = config.get("model", {})
    return {"kind": "checkpoint", "path": str(path), "modalities": sorted(config.get("modalities", {})),
            "model": {k: v for k, v in model.items() if isinstance(v, int | float | str | bool)},
            "weights": sorted(p.name for p in path.glob("*.safetensors")),
            "trained_on": prov.get("trained_on", {}), "tokenizers": included,
            "fourm_version": prov.get("fourm_version")}


def inspect_path(path: Path) -> dict[str, Any]:
    if not path.exists():
        raise FourmError(f"{path} does not exist.")
    if path.is_dir() and (path / "config.json").is_file() and "modalities" in (path / "config.json").read_text():
        return inspect_checkpoint(path)
    if path.is_dir() and ((path / "tokenizer.json").is_file() or (path / "model.safetensors").is_file()):
        from fourm_registry.provenance import tokenizer_fingerprint

        return {"kind": "tokenizer", "path": str(path), "fingerprint": tokenizer_fingerprint(path),
                "files": sorted(p.name for p in path.iterdir() if p.is_file())}
    return inspect_shards(path)


def _print(info: dict[str, Any]) -> None:
    for key, value in info.items():
        if isinstance(value, dict) and value:
            typer.echo(f"{key}:")
            for k, v in value.items():
                if isinstance(v, list):
                    typer.echo(f"  {k}:")
                    for item in v:
                        typer.echo(f"    - {json.dumps(item, sort_keys=True)}")
                else:
                    typer.echo(f"  {k}: {json.dumps(v, sort_keys=True) if isinstance(v, dict | list) else v}")
        else:
            typer.echo(f"{key}: {value if not isinstance(value, dict | list) else json.dumps(value)}")


def register(app: typer.Typer) -> None:
    @app.command("inspect")
    def inspect(
        path: Path = typer.Argument(..., help="A shard (.tar), a folder or pattern of shards, an export/ "
                                              "checkpoint or a saved tokenizer."),
        as_json: bool = typer.Option(False, "--json", help="Print JSON."),
    ) -> None:
        """Fields, counts, provenance (labelers, models, thresholds) and tokenizer fingerprints."""
        info = inspect_path(path)
        if as_json:
            typer.echo(json.dumps(info, indent=2, sort_keys=True))
        else:
            _print(info)
