"""Assembling a run from its config and the registry: modalities, model family, model, activation checkpointing.

Nothing here names a modality or a model family: inputs/targets come from the config, their
token layout, embeddings and losses from each modality's spec, the model from the family the
``model`` section names (``model.family``; default: the registry's default family).
"""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Any

import torch
from torch import nn

from ..errors import FourmError
from ..families import ModelFamilySpec, family_of, resolve_family
from ..spec import ModalityKind, ModalitySpec
from .config import ModalitiesSection, TrainConfig

_RAW_KINDS = (ModalityKind.PIXELS, ModalityKind.EMBEDDING)  # projected directly, no tokenizer


def resolve_modalities(section: ModalitiesSection, registry: Any) -> tuple[Any, list[ModalitySpec]]:
    """The registry with the config's per-modality settings applied, and the selected specs."""
    for name in section.all:
        registry.get_modality(name)  # unknown names raise with suggestions
    registry = registry.with_overrides({n: o.spec_changes() for n, o in section.settings.items()})
    specs = registry.select(section.all)
    for spec in specs:
        if not spec.has_tokenizer and spec.kind not in _RAW_KINDS:
            raise FourmError(
                f"Modality {spec.name!r} (plugin {registry.provider(spec.name)!r}) has no tokenizer: "
                f"its {spec.kind.value} values cannot become tokens. Install or register a plugin "
                "that provides one, or remove it from modalities.inputs/targets.")
        path = section.settings.get(spec.name)
        if path is not None and path.tokenizer and not Path(path.tokenizer).is_dir():
            raise FourmError(f"modalities.settings.{spec.name}.tokenizer: {path.tokenizer} is not a "
                             "directory written by the tokenizer's save_pretrained.")
    for name in section.targets:
        spec = registry.get_modality(name)
        if spec.input_only:
            raise FourmError(f"modalities.targets: {name!r} is a {spec.kind.value} modality, which is "
                             "input-only; it cannot be predicted.")
    return registry, specs


def model_config(cfg: TrainConfig, registry: Any = None) -> Any:
    """The model section; with ``init`` it defaults to, and must match, the exported architecture."""
    from ..config import validate_config
    from ..model import FourMConfig

    if cfg.init is None:
        return cfg.model
    exported = read_exported_config(cfg.init, registry)["model"]
    if cfg.model is None:
        return validate_config(FourMConfig, exported, f"{cfg.init}/config.json")
    mine = cfg.model.model_dump(mode="json")
    runtime = {"act_checkpoint", "attention", "compile", "preset"}
    differ = sorted(k for k in exported if k not in runtime and mine.get(k) != exported[k])
    if differ:
        detail = ", ".join(f"model.{k}={mine.get(k)!r} vs {exported[k]!r}" for k in differ[:4])
        raise FourmError(f"The model section differs from the model given with --init {cfg.init} "
                         f"({detail}); make it match the exported config.json or leave it out.")
    return cfg.model


def read_exported_config(path: str | Path, registry: Any = None) -> dict[str, Any]:
    from ..interop.ml4m import init as official

    if official.is_official_dir(path):  # a released 4M model (ml-4m layout)
        return official.exported_config(path, registry)
    cfg_file = Path(path) / "config.json"
    if not cfg_file.is_file():
        raise FourmError(f"--init {path}: no config.json there (expected a directory written by "
                         "save_pretrained or a training run's export).")
    return json.loads(cfg_file.read_text())


def load_initial_weights(model: nn.Module, path: str | Path, new_modalities: set[str],
                         registry: Any = None) -> list[str]:
    """Copy the exported weights into ``model``; only parameters of new modalities may be missing.

    Returns the names of the freshly initialised tensors. Weights of modalities this run
    does not use are left out; tied tensors (stored once) are handled by safetensors.
    """
    from safetensors import safe_open
    from safetensors.torch import load_model

    from ..interop.ml4m import init as official

    weights = Path(path) / "model.safetensors"
    released = official.is_official_dir(path)
    if released:
        state = official.initial_state(path, registry)
        shapes = {k: tuple(v.shape) for k, v in state.items()}
    elif not weights.is_file():
        raise FourmError(f"--init {path}: no model.safetensors there.")
    else:
        with safe_open(str(weights), framework="pt") as fh:
            shapes = {k: tuple(fh.get_slice(k).get_shape()) for k in fh.keys()}
    own = model.state_dict()
    mismatched = [f"{k} {shapes[k]} vs {tuple(own[k].shape)}" for k in shapes
                  if k in own and tuple(own[k].shape) != shapes[k]]
    if mismatched:
        raise FourmError(f"--init {path}: shapes differ for {mismatched[:3]} (were modality "
                         "settings such as vocab_size or image_size changed?).")
    if released:
        missing = list(model.load_state_dict({k: v for k, v in state.items() if k in own}, strict=False).missing_keys)
    else:
        missing, _unused = load_model(model, str(weights), strict=False)
    stray = [n for n in missing if not set(n.split(".")) & new_modalities]
    if stray:
        raise FourmError(f"--init {path}: the exported model lacks {stray[:3]}, which belong to no "
                         "newly added modality.")
    return sorted(missing)


def run_family(cfg: TrainConfig, registry: Any, specs: list[ModalitySpec] | None = None
               ) -> tuple[ModelFamilySpec, Any]:
    """The run's model family and validated model config; the family's ``check`` vets ``specs``."""
    family, model_cfg = resolve_family(cfg.model, registry)
    if family_of(cfg.model) is None:  # no ``family`` key: the default family's config, init-aware
        model_cfg = model_config(cfg, registry)
    if specs is not None and family.check is not None:
        family.check(cfg.modalities, specs, model_cfg)
    return family, model_cfg


def build_model_for(cfg: TrainConfig, registry: Any, specs: list[ModalitySpec]) -> tuple[nn.Module, list[str]]:
    """A fresh model of the run's family, or one initialised from ``cfg.init`` (new modalities fresh)."""
    family, model_cfg = run_family(cfg, registry)
    model = family.build(model_cfg, registry, specs)
    fresh: list[str] = []
    if cfg.init is not None:
        exported = set(read_exported_config(cfg.init, registry)["modalities"])
        fresh = load_initial_weights(model, cfg.init, {s.name for s in specs} - exported, registry)
    if getattr(model_cfg, "compile", False):
        from ..model.blocks import compile_blocks

        compile_blocks(model)
    return model, fresh


def enable_activation_checkpointing(model: nn.Module, ds_config: dict[str, Any]) -> int:
    """Recompute every transformer block in backward through ``deepspeed.checkpointing``.

    Blocks are the entries of the model's ``encoder``/``decoder`` module lists (or of
    ``model.checkpoint_blocks()`` when a model defines it). Returns how many were wrapped.
    """
    import deepspeed

    deepspeed.checkpointing.configure(None, deepspeed_config=ds_config)
    if hasattr(model, "checkpoint_blocks"):
        blocks = list(model.checkpoint_blocks())
    else:
        blocks = [b for attr in ("encoder", "decoder") if isinstance(getattr(model, attr, None), nn.ModuleList)
                  for b in getattr(model, attr)]
    for block in blocks:
        block.forward = functools.partial(_checkpointed, block, block.forward)
    return len(blocks)


def _checkpointed(block: nn.Module, forward: Any, *args: Any) -> Any:
    import deepspeed

    if block.training and torch.is_grad_enabled():
        return deepspeed.checkpointing.checkpoint(forward, *args)
    return forward(*args)
