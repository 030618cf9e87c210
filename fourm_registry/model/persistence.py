"""Building a model from the registry, and saving/loading it as ``config.json`` + ``model.safetensors``.

This floor sits below :mod:`.fourm`: it never imports the model class but is handed it
(``cls``), so ``FourM.from_pretrained`` can live on the class without an import circle.

``config.json`` records the model config and, per modality, the sizes it was built with and
its JSON-serialisable ``extras`` (e.g. the class names of the data it learned), so loading
re-applies them to the registry's specs (a model trained at 32 px loads at 32 px). A
``config.json`` of another layout goes to the reader registered for it (:func:`register_reader`;
:mod:`.pretrained` registers the released apple/ml-4m layout from ``fourm_registry.interop``).
"""
from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import load_model, save_model

from ..config import validate_config
from ..errors import FourmError
from ..spec import ModalitySpec
from .config import FourMConfig

CONFIG_NAME, WEIGHTS_NAME, FORMAT = "config.json", "model.safetensors", "fourm/1"
SIZE_FIELDS = ("vocab_size", "image_size", "patch_size", "max_length")
_READERS: list[tuple[Callable[[Mapping[str, Any]], bool], Callable[..., Any]]] = []


def register_reader(accepts: Callable[[Mapping[str, Any]], bool], load: Callable[..., Any]) -> None:
    """Open directories of another layout: ``load(cls, directory, registry, device=)`` for a
    ``config.json`` that ``accepts(config)``."""
    if (accepts, load) not in _READERS:
        _READERS.append((accepts, load))


def build(cls: type, model_cfg: FourMConfig | Mapping[str, Any], registry: Any,
          modalities: Iterable[str | ModalitySpec]) -> Any:
    """A freshly initialised ``cls`` (a :class:`FourM`) for ``modalities`` (names or specs) of ``registry``."""
    cfg = model_cfg if isinstance(model_cfg, FourMConfig) else validate_config(FourMConfig, model_cfg, "model")
    specs = [m if isinstance(m, ModalitySpec) else registry.get_modality(m) for m in modalities]
    if not specs:
        raise FourmError("A model needs at least one modality.")
    if all(s.input_only for s in specs):
        raise FourmError(f"Modalities {[s.name for s in specs]} are all input-only: nothing to predict.")
    objectives = {s.name: registry.get_objective(s.loss).fn for s in specs}
    return cls(cfg, specs, objectives)


def modality_record(spec: ModalitySpec) -> dict[str, Any]:
    tok = spec.tokenizer
    return {"kind": spec.kind.value, "loss": spec.loss, "num_tokens": spec.num_tokens,
            **{f: getattr(tok, f) for f in SIZE_FIELDS}, "extras": _json_extras(spec.extras)}


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


def atomic_write(path: Path, write: Any) -> None:
    """``write(tmp_path)`` then rename over ``path``: a reader never sees a half-written file."""
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    os.close(fd)
    try:
        write(tmp)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)  # mkstemp's 0600 would hide a shared checkpoint from others
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_pretrained(model: Any, directory: str | os.PathLike) -> Path:
    """Write ``config.json`` and ``model.safetensors`` (tied weights are stored once)."""
    out = Path(directory)
    out.mkdir(parents=True, exist_ok=True)
    config = {"format": FORMAT, "model": model.config.model_dump(mode="json"),
              "modalities": {n: modality_record(s) for n, s in model.specs.items()}}
    atomic_write(out / WEIGHTS_NAME, lambda p: save_model(model, p, metadata={"format": "pt"}))
    atomic_write(out / CONFIG_NAME, lambda p: Path(p).write_text(json.dumps(config, indent=2) + "\n"))
    return out


def with_aliases(registry: Any, overrides: Mapping[str, Mapping[str, Any]]) -> Any:
    """``registry`` plus the modalities that are another one at a second size (``extras["alias_of"]``,
    e.g. an SR model's 448-px RGB beside its 224-px one): the same plugin spec under a new name."""
    from types import MappingProxyType

    extra = {}
    for name, changes in overrides.items():
        base = (changes.get("extras") or {}).get("alias_of")
        if base and name not in registry.modalities:
            extra[name] = registry.get_modality(base).model_copy(update={"name": name, "labeler": None})
    if not extra:
        return registry
    return type(registry)(
        modalities=MappingProxyType({**registry.modalities, **extra}), labelers=registry.labelers,
        objectives=registry.objectives, plugin_manager=registry.plugin_manager,
        providers=MappingProxyType({**registry.providers, **{f"modality:{n}": registry.provider(
            str(overrides[n]["extras"]["alias_of"])) for n in extra}}))


def registry_for(model: Any, registry: Any) -> Any:
    """``registry`` as ``model`` was built (its sizes, extras and alias modalities): what the
    generator plans with for a loaded model."""
    overrides = {n: {**{f: getattr(s.tokenizer, f) for f in SIZE_FIELDS if getattr(s.tokenizer, f) is not None},
                     "extras": _json_extras(s.extras)} for n, s in model.specs.items()}
    return with_aliases(registry, overrides).with_overrides(overrides)


def resolve(path_or_id: str | os.PathLike, revision: str | None = None) -> Path:
    """A local model directory, or a Hub repo id fetched (or found in the cache) by huggingface_hub."""
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


def read_config(directory: Path) -> dict[str, Any]:
    cfg_file, weights = directory / CONFIG_NAME, directory / WEIGHTS_NAME
    if not cfg_file.is_file() or not weights.is_file():
        raise FourmError(f"{directory} must hold {CONFIG_NAME} and {WEIGHTS_NAME}.")
    try:
        config = json.loads(cfg_file.read_text())
    except ValueError as exc:
        raise FourmError(f"{cfg_file} is not valid JSON: {exc}") from exc
    if not isinstance(config, dict):
        raise FourmError(f"{cfg_file} is not a model config (not a JSON object).")
    return config


def from_pretrained(cls: type, path_or_id: str | os.PathLike, registry: Any = None, *,
                    revision: str | None = None, device: str = "cpu") -> Any:
    """Load a fourm model (or a released ml-4m one) from a directory or a Hub repo id."""
    if registry is None:
        from ..registry import get_registry

        registry = get_registry()
    directory = resolve(path_or_id, revision)
    config = read_config(directory)
    if config.get("format") != FORMAT:
        for accepts, load in _READERS:
            if accepts(config):
                return load(cls, directory, registry, device=device)
        raise FourmError(f"{directory / CONFIG_NAME} is neither a fourm model config (format "
                         f"{config.get('format')!r}) nor an ml-4m one (domains_in/domains_out).")
    records: dict[str, dict[str, Any]] = config["modalities"]
    overrides = {n: {f: r[f] for f in (*SIZE_FIELDS, "extras") if r.get(f) is not None}
                 for n, r in records.items()}
    registry = with_aliases(registry, overrides).with_overrides(overrides)
    for name, record in records.items():
        kind = registry.get_modality(name).kind.value
        if kind != record["kind"]:
            raise FourmError(f"Modality {name!r} is {kind} in this registry but the checkpoint "
                             f"was trained with a {record['kind']} modality of that name.")
    model = build(cls, config["model"], registry, list(records))
    weights = directory / WEIGHTS_NAME
    missing, unexpected = load_model(model, str(weights), strict=False, device=device)
    if missing or unexpected:
        raise FourmError(f"{weights} does not match the model: missing {sorted(missing)[:5]}, "
                         f"unexpected {sorted(unexpected)[:5]}.")
    from functools import partial

    from ..provenance import load_export_tokenizers

    model = model.to(torch.device(device))
    model.load_tokenizers = partial(load_export_tokenizers, directory, registry)  # the export's own tokenizers
    return model
