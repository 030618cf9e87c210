"""The registry: isolated builds, duplicates, broken plugins, suggestions, overrides."""
from __future__ import annotations

import types

import pytest

from fourm_registry import (
    MaskingSpec, ModalityKind, ModalitySpec, PluginError, Registry, TokenizerSpec,
    UnknownNameError, hookimpl,
)
from fourm_registry.codecs import npy_codec


def make_spec(name: str = "thermal", **kw) -> ModalitySpec:
    return ModalitySpec(name=name, kind=ModalityKind.DENSE,
                        tokenizer=TokenizerSpec(vocab_size=64, image_size=32, patch_size=8),
                        masking=MaskingSpec(rule="uniform"), codec=npy_codec(ndim=2), **kw)


def plugin(name: str, register_fn) -> types.SimpleNamespace:
    ns = types.SimpleNamespace(__name__=name)
    ns.register_modalities = hookimpl(register_fn)
    return ns


def test_explicit_plugin_is_registered_and_attributed():
    reg = Registry.build(plugin("my_plugin", lambda register: register(make_spec())), allow=[])
    assert "thermal" in reg.list_modalities()
    assert reg.provider("thermal") == "my_plugin"
    assert reg.provider("depth") == "depth"


def test_registries_are_isolated():
    with_plugin = Registry.build(plugin("p", lambda register: register(make_spec())), allow=[])
    without = Registry.build(allow=[])
    assert "thermal" in with_plugin.modalities and "thermal" not in without.modalities
    with pytest.raises(TypeError):
        without.modalities["thermal"] = make_spec()  # read-only mapping


def test_duplicate_names_are_rejected_naming_both_plugins():
    with pytest.raises(PluginError, match=r"Duplicate modality name 'depth': registered by "
                                          r"'depth' and again by 'copycat'"):
        Registry.build(plugin("copycat", lambda register: register(make_spec("depth"))), allow=[])


def test_a_hook_that_raises_is_named():
    def boom(register):
        raise RuntimeError("weights folder missing")

    with pytest.raises(PluginError, match="Plugin 'broken' failed in register_modalities: "
                                          "RuntimeError: weights folder missing"):
        Registry.build(plugin("broken", boom), allow=[])


def test_malformed_declaration_is_named():
    def bad(register):
        register({"name": "thermal", "kind": "dense"})  # no tokenizer, masking, codec

    with pytest.raises(PluginError, match="Plugin 'sloppy' declared an invalid modality"):
        Registry.build(plugin("sloppy", bad), allow=[])


def test_wrong_object_type_is_named():
    with pytest.raises(PluginError, match="Plugin 'odd' registered a str as a modality"):
        Registry.build(plugin("odd", lambda register: register("thermal")), allow=[])


def test_unknown_loss_is_rejected():
    with pytest.raises(PluginError, match="names loss 'focal'"):
        Registry.build(plugin("p", lambda register: register(make_spec(loss="focal"))), allow=[])


def test_unknown_name_suggests_close_ones(registry):
    with pytest.raises(UnknownNameError, match="Unknown modality 'dpeth'. Did you mean 'depth'"):
        registry.get_modality("dpeth")
    with pytest.raises(UnknownNameError, match="Unknown modality 'normals'.*'normal'"):
        registry.select(["rgb", "normals"])


def test_core_objective_is_registered(registry):
    import torch

    ce = registry.get_objective("cross_entropy").fn
    logits = torch.zeros(2, 3, 5)
    targets = torch.zeros(2, 3, dtype=torch.long)
    mask = torch.tensor([[True, False, False], [False, False, False]])
    assert torch.isclose(ce(logits, targets, mask), torch.log(torch.tensor(5.0)))
    assert ce(logits, targets, torch.zeros_like(mask)).item() == 0.0


def test_overrides_give_a_new_registry(registry):
    small = registry.with_overrides({"depth": {"image_size": 64, "patch_size": 8}})
    assert small.get_modality("depth").num_tokens == 64
    assert registry.get_modality("depth").num_tokens == 196


def test_labeler_for_unknown_modality_is_rejected():
    from fourm_registry import LabelerSpec

    ns = types.SimpleNamespace(__name__="labels")
    ns.register_labelers = hookimpl(lambda register: register(
        LabelerSpec(name="x", modality="nope", factory=lambda m, d: None)))
    with pytest.raises(PluginError, match="labeler 'x' is for unknown modality 'nope'"):
        Registry.build(ns, allow=[])


def test_extras_overrides_merge_with_the_plugins(registry):
    base = registry.get_modality("semseg").extras
    changed = registry.with_overrides({"semseg": {"extras": {"class_names": ["sky", "road"]}}})
    extras = changed.get_modality("semseg").extras
    assert extras["class_names"] == ["sky", "road"]
    assert extras["num_classes"] == base["num_classes"]  # merged, not replaced
    assert base.get("class_names") is None
