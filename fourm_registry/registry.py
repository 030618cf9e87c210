"""An immutable registry of modalities, labelers, objectives and model families, built from a plugin manager.

Tests build isolated registries with :meth:`Registry.build`; applications use the lazily
built, cached :func:`get_registry`.
"""
from __future__ import annotations

import functools
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

import pluggy
from pydantic import ValidationError

from .errors import PluginError, UnknownNameError
from .families.spec import ModelFamilySpec
from .plugins import call_each, make_plugin_manager
from .spec import LabelerSpec, ModalitySpec, Objective


@dataclass(frozen=True)
class Registry:
    """What the registered plugins declare. Read-only: build a new one to change it."""

    modalities: Mapping[str, ModalitySpec]
    labelers: Mapping[str, LabelerSpec]
    objectives: Mapping[str, Objective]
    providers: Mapping[str, str] = field(default_factory=dict)  # "kind:name" -> plugin name
    plugin_manager: pluggy.PluginManager | None = field(default=None, compare=False, repr=False)
    families: Mapping[str, ModelFamilySpec] = field(default_factory=dict)

    # -- construction --------------------------------------------------------------
    @classmethod
    def build(cls, *plugins: Any, entrypoints: bool = True, builtins: bool = True,
              allow: Iterable[str] | None = None) -> Registry:
        """A fresh registry: built-ins + installed entry points (if asked) + ``plugins``."""
        pm = make_plugin_manager(entrypoints=entrypoints, builtins=builtins, allow=allow, extra=plugins)
        return cls.from_plugin_manager(pm)

    @classmethod
    def from_plugin_manager(cls, pm: pluggy.PluginManager) -> Registry:
        tables: dict[str, dict[str, Any]] = {"modality": {}, "labeler": {}, "objective": {}, "family": {}}
        providers: dict[str, str] = {}
        types = {"modality": ModalitySpec, "labeler": LabelerSpec, "objective": Objective,
                 "family": ModelFamilySpec}

        def add(what: str, obj: Any, plugin: str) -> None:
            cls_ = types[what]
            if isinstance(obj, Mapping):
                try:
                    obj = cls_.model_validate(obj)
                except ValidationError as exc:
                    raise PluginError(f"Plugin {plugin!r} declared an invalid {what}:\n{exc}") from exc
            if not isinstance(obj, cls_):
                raise PluginError(
                    f"Plugin {plugin!r} registered a {type(obj).__name__} as a {what}; "
                    f"expected {cls_.__name__}."
                )
            key = f"{what}:{obj.name}"
            if obj.name in tables[what]:
                raise PluginError(
                    f"Duplicate {what} name {obj.name!r}: registered by {providers[key]!r} "
                    f"and again by {plugin!r}."
                )
            tables[what][obj.name] = obj
            providers[key] = plugin
            if what == "modality" and obj.labeler is not None:
                add("labeler", obj.labeler, plugin)

        def hook_args(what: str):
            return lambda plugin: {"register": lambda obj: add(what, obj, plugin)}

        call_each(pm, "register_objectives", hook_args("objective"))
        call_each(pm, "register_modalities", hook_args("modality"))
        call_each(pm, "register_labelers", hook_args("labeler"))
        call_each(pm, "register_families", hook_args("family"))
        defaults = [n for n, f in tables["family"].items() if f.default]
        if len(defaults) > 1:
            who = ", ".join(f"{n!r} (plugin {providers['family:' + n]!r})" for n in defaults)
            raise PluginError(f"Several model families claim to be the default: {who}.")

        for name, spec in tables["modality"].items():
            if spec.loss not in tables["objective"]:
                raise PluginError(
                    f"Plugin {providers['modality:' + name]!r}: modality {name!r} names loss "
                    f"{spec.loss!r}, which no plugin registers (known: {sorted(tables['objective'])})."
                )
        for name, lab in tables["labeler"].items():
            if lab.modality not in tables["modality"]:
                raise PluginError(
                    f"Plugin {providers['labeler:' + name]!r}: labeler {name!r} is for unknown "
                    f"modality {lab.modality!r}."
                )
        return cls(
            modalities=MappingProxyType(tables["modality"]),
            labelers=MappingProxyType(tables["labeler"]),
            objectives=MappingProxyType(tables["objective"]),
            providers=MappingProxyType(providers),
            plugin_manager=pm,
            families=MappingProxyType(tables["family"]),
        )

    # -- lookup --------------------------------------------------------------------
    def list_modalities(self) -> list[str]:
        return sorted(self.modalities)

    def get_modality(self, name: str) -> ModalitySpec:
        try:
            return self.modalities[name]
        except KeyError:
            raise UnknownNameError("modality", name, self.modalities) from None

    def select(self, names: Iterable[str]) -> list[ModalitySpec]:
        """Specs for ``names`` in order; the first unknown name raises with suggestions."""
        return [self.get_modality(n) for n in names]

    def get_labeler(self, name: str) -> LabelerSpec:
        try:
            return self.labelers[name]
        except KeyError:
            raise UnknownNameError("labeler", name, self.labelers) from None

    def labelers_for(self, modality: str) -> list[LabelerSpec]:
        self.get_modality(modality)
        return [lab for lab in self.labelers.values() if lab.modality == modality]

    def get_objective(self, name: str) -> Objective:
        try:
            return self.objectives[name]
        except KeyError:
            raise UnknownNameError("objective", name, self.objectives) from None

    def provider(self, modality: str) -> str:
        """The plugin that registered ``modality``."""
        self.get_modality(modality)
        return self.providers[f"modality:{modality}"]

    def list_families(self) -> list[str]:
        return sorted(self.families)

    def get_family(self, name: str | None = None) -> ModelFamilySpec:
        """The named model family, or the default one for ``None``."""
        if name is None:
            for spec in self.families.values():
                if spec.default:
                    return spec
            from .errors import FourmError

            raise FourmError("No default model family is registered; name one with model.family.")
        try:
            return self.families[name]
        except KeyError:
            raise UnknownNameError("model family", name, self.families) from None

    # -- derivation ----------------------------------------------------------------
    def with_overrides(self, overrides: Mapping[str, Mapping[str, Any]]) -> Registry:
        """A new registry whose named modalities have tokenizer/masking settings changed."""
        mods = dict(self.modalities)
        for name, changes in overrides.items():
            spec = self.get_modality(name)
            try:
                mods[name] = spec.with_overrides(**dict(changes))
            except ValidationError as exc:
                from .errors import FourmError

                raise FourmError(f"Invalid settings for modality {name!r}:\n{exc}") from exc
        return Registry(
            modalities=MappingProxyType(mods), labelers=self.labelers, objectives=self.objectives,
            providers=self.providers, plugin_manager=self.plugin_manager, families=self.families,
        )


@functools.cache
def get_registry() -> Registry:
    """The application registry (built once, on first use)."""
    return Registry.build()
