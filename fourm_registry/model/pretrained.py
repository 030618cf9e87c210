"""Building a model from the registry, and saving/loading it as ``config.json`` + ``model.safetensors``.

``config.json`` records the model config and, per modality, the sizes it was built with and
its JSON-serialisable ``extras`` (e.g. the class names of the data it learned), so loading
re-applies them to the registry's specs (a model trained at 32 px loads at 32 px).
"""
from __future__ import annotations

import json
import os
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from safetensors.torch import load_model, save_model

from ..config import validate_config
from ..errors import FourmError
from ..spec import ModalitySpec
from .config import FourMConfig
from .fourm import FourM

CONFIG_NAME, WEIGHTS_NAME, FORMAT = "config.json", "model.safetensors", "fourm/1"
_SIZE_FIELDS = ("vocab_size", "image_size", "patch_size", "max_length")


def build_model(model_cfg: FourMConfig | Mapping[str, Any], registry: Any,
                modalities: Iterable[str | ModalitySpec]) -> FourM:
    """A freshly initialised :class:`FourM` for ``modalities`` (names or specs) of ``registry``."""
    cfg = model_cfg if isinstance(model_cfg, FourMConfig) else validate_config(FourMConfig, model_cfg, "model")
    specs = [m if isinstance(m, ModalitySpec) else registry.get_modality(m) for m in modalities]
    if not specs:
        raise FourmError("A model needs at least one modality.")
    if all(s.input_only for s in specs):
        raise FourmError(f"Modalities {[s.name for s in specs]} are all input-only: nothing to predict.")
    objectives = {s.name: registry.get_objective(s.loss).fn for s in specs}
    return FourM(cfg, specs, objectives)


def modality_record(spec: ModalitySpec) -> dict[str, Any]:
    tok = spec.tokenizer
    return {"kind": spec.kind.value, "loss": spec.loss, "num_tokens": spec.num_tokens,
            **{f: getattr(tok, f) for f in _SIZE_FIELDS}, "extras": _json_extras(spec.extras)}


def _json_extras(extras: Mapping[str, Any]) -> dict[str, Any]:
    """The extras a JSON file can hold; plugin objects (callables, arrays) are left out."""
    kept = {}
    for key, value in extras.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            continue
        kept[key] = value
    return kept


def save_pretrained(model: FourM, directory: str | os.PathLike) -> Path:
    """Write ``config.json`` and ``model.safetensors`` (tied weights are stored once)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    config = {"format": FORMAT, "model": model.config.model_dump(mode="json"),
              "modalities": {n: modality_record(s) for n, s in model.specs.items()}}
    (out / CONFIG_NAME).write_text(json.dumps(config, indent=2) + "\n")
    save_model(model, str(out / WEIGHTS_NAME), metadata={"format": "pt"})
    return out


def _resolve(path_or_id: str | os.PathLike, revision: str | None) -> Path:
    path = Path(path_or_id)
    if path.is_dir():
        return path
    if path.exists() or str(path_or_id).startswith((".", "/")):
        raise FourmError(f"{path_or_id} is not a model directory.")
    from huggingface_hub import snapshot_download

    try:
        return Path(snapshot_download(str(path_or_id), revision=revision,
                                      allow_patterns=[CONFIG_NAME, WEIGHTS_NAME]))
    except Exception as exc:  # offline, unknown repo, …: say which model could not be fetched
        raise FourmError(f"Could not fetch model {path_or_id!r}: {type(exc).__name__}: {exc}") from exc


def from_pretrained(path_or_id: str | os.PathLike, registry: Any = None, *, revision: str | None = None,
                    device: str = "cpu") -> FourM:
    """Load a model saved by :func:`save_pretrained` from a directory or a Hub repo id."""
    if registry is None:
        from ..registry import get_registry

        registry = get_registry()
    directory = _resolve(path_or_id, revision)
    cfg_file, weights = directory / CONFIG_NAME, directory / WEIGHTS_NAME
    if not cfg_file.is_file() or not weights.is_file():
        raise FourmError(f"{directory} must hold {CONFIG_NAME} and {WEIGHTS_NAME}.")
    config = json.loads(cfg_file.read_text())
    if config.get("format") != FORMAT:
        raise FourmError(f"{cfg_file} is not a fourm model config (format {config.get('format')!r}); "
                         "released 4M checkpoints go through the checkpoint converter.")
    records: dict[str, dict[str, Any]] = config["modalities"]
    overrides = {n: {f: r[f] for f in (*_SIZE_FIELDS, "extras") if r.get(f) is not None}
                 for n, r in records.items()}
    registry = registry.with_overrides(overrides)
    for name, record in records.items():
        kind = registry.get_modality(name).kind.value
        if kind != record["kind"]:
            raise FourmError(f"Modality {name!r} is {kind} in this registry but the checkpoint "
                             f"was trained with a {record['kind']} modality of that name.")
    model = build_model(config["model"], registry, list(records))
    missing, unexpected = load_model(model, str(weights), strict=False, device=device)
    if missing or unexpected:
        raise FourmError(f"{weights} does not match the model: missing {sorted(missing)[:5]}, "
                         f"unexpected {sorted(unexpected)[:5]}.")
    return model.to(device)
