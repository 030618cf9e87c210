"""Pydantic v2 base for every file a user writes, YAML loading and ``--set a.b=c`` overrides.

Validation errors become one :class:`ConfigError` whose lines name the field path.
"""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .errors import FourmError

M = TypeVar("M", bound=BaseModel)


class ConfigError(FourmError):
    """A config file or override that does not validate."""


class StrictModel(BaseModel):
    """Base for user-written configs: unknown keys are errors, not silently ignored."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class ModalityOverride(StrictModel):
    """Per-modality settings a config may change; ``None`` keeps the plugin's default."""

    vocab_size: int | None = Field(default=None, gt=0)
    image_size: int | None = Field(default=None, gt=0)
    patch_size: int | None = Field(default=None, gt=0)
    max_length: int | None = Field(default=None, gt=0)
    min_tokens: int | None = Field(default=None, ge=0)
    max_tokens: int | None = Field(default=None, gt=0)
    alpha: float | None = Field(default=None, gt=0)
    tokenizer: str | None = None  # path of a trained tokenizer directory
    extras: dict[str, Any] | None = None  # merged into the plugin's extras (e.g. class names)

    def spec_changes(self) -> dict[str, Any]:
        """The settings to apply to the ModalitySpec (tokenizer path excluded)."""
        return {k: v for k, v in self.model_dump(exclude={"tokenizer"}).items() if v is not None}


def _as_override_map(value: Any) -> Any:
    """Let users write ``[rgb, depth]`` as well as ``{rgb: {}, depth: {image_size: 128}}``."""
    if isinstance(value, list | tuple):
        return {str(name): {} for name in value}
    if isinstance(value, Mapping):
        return {k: ({} if v is None else v) for k, v in value.items()}
    return value


class ModalitySelection(StrictModel):
    """Select modalities by name, optionally overriding their settings."""

    modalities: dict[str, ModalityOverride]

    @field_validator("modalities", mode="before")
    @classmethod
    def _coerce(cls, value: Any) -> Any:
        return _as_override_map(value)

    def resolve(self, registry: Any) -> Any:
        """Apply the overrides to ``registry``; unknown names raise with suggestions."""
        for name in self.modalities:
            registry.get_modality(name)
        return registry.with_overrides({n: o.spec_changes() for n, o in self.modalities.items()})


def parse_overrides(pairs: Iterable[str]) -> dict[str, Any]:
    """``["train.lr=3e-4", "model.preset=tiny"]`` → nested dict; values parsed as YAML scalars."""
    out: dict[str, Any] = {}
    for pair in pairs:
        if "=" not in pair:
            raise ConfigError(f"Override {pair!r} must look like key.path=value.")
        key, raw = pair.split("=", 1)
        parts = [p for p in key.strip().split(".") if p]
        if not parts:
            raise ConfigError(f"Override {pair!r} has an empty key.")
        node = out
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ConfigError(f"Override {pair!r} conflicts with another override.")
        node[parts[-1]] = _override_value(raw, pair)
    return out


def _override_value(raw: str, pair: str) -> Any:
    """A YAML scalar/list/mapping, except that ``{a,b}`` / ``x-{0..3}.tar`` stay brace patterns
    (YAML would read ``{a,b}`` as the mapping ``{a: null, b: null}``)."""
    if not raw.strip():
        return ""
    try:
        value = yaml.safe_load(raw)
    except yaml.YAMLError as exc:
        if "{" in raw and "}" in raw:  # e.g. shards-{0..3}.tar or {a,b}.tar
            return raw.strip()
        raise ConfigError(f"Override {pair!r}: the value is not valid YAML ({str(exc).splitlines()[0]}).") from None
    if isinstance(value, dict) and value and all(v is None for v in value.values()):
        return raw.strip()
    return value


def deep_merge(base: dict[str, Any], extra: Mapping[str, Any]) -> dict[str, Any]:
    merged = dict(base)
    for k, v in extra.items():
        if isinstance(v, Mapping) and isinstance(merged.get(k), dict):
            merged[k] = deep_merge(merged[k], v)
        else:
            merged[k] = v
    return merged


def format_validation_error(exc: ValidationError, source: str) -> str:
    lines = [f"Invalid config {source}:"]
    for err in exc.errors():
        path = ".".join(str(p) for p in err["loc"]) or "(top level)"
        lines.append(f"  field '{path}': {err['msg']}")
    return "\n".join(lines)


def validate_config(model: type[M], data: Mapping[str, Any], source: str = "") -> M:
    try:
        return model.model_validate(dict(data))
    except ValidationError as exc:
        raise ConfigError(format_validation_error(exc, source or model.__name__)) from exc


def load_config(model: type[M], path: str | Path | None, overrides: Iterable[str] = ()) -> M:
    """Read YAML ``path`` (or start empty), apply ``--set`` overrides, validate into ``model``."""
    data: dict[str, Any] = {}
    source = str(path) if path else "(overrides)"
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise ConfigError(f"Config file {p} does not exist.")
        try:
            loaded = yaml.safe_load(p.read_bytes().decode("utf-8")) or {}
        except UnicodeDecodeError as exc:
            raise ConfigError(f"Config file {p} is not UTF-8 text ({exc.reason} at byte {exc.start}).") from None
        except yaml.YAMLError as exc:
            raise ConfigError(f"Config file {p} is not valid YAML: {exc}") from exc
        if not isinstance(loaded, dict):
            raise ConfigError(f"Config file {p} must hold a mapping at the top level.")
        data = loaded
    data = deep_merge(data, parse_overrides(overrides))
    return validate_config(model, data, source)
