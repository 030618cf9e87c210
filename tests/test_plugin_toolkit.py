"""The README's plugin examples are real plugins: each is extracted, registered and passes the kit."""
from __future__ import annotations

import re
import types
from pathlib import Path

import numpy as np
import pytest

import fourm_registry
from fourm_registry import Registry
from fourm_registry.testing import check_modality, example_values, small_tokenizer

from ._torch_threads import one_torch_thread  # noqa: F401

README = (Path(__file__).parents[1] / "README.md").read_text()
SECTION = README[README.index("## Writing a plugin"):README.index("### The modality contract")]
BLOCK = re.compile(r"```python\n# (fourm_\w+)/__init__\.py\n(.*?)```", re.S)
EXAMPLES = {m.group(1): m.group(2) for m in BLOCK.finditer(SECTION)}


def _module(name: str) -> types.ModuleType:
    mod = types.ModuleType(name)
    exec(compile(EXAMPLES[name], f"README:{name}", "exec"), mod.__dict__)
    return mod


def _registered(mod: types.ModuleType) -> list[str]:
    names: list[str] = []
    mod.register_modalities(lambda spec: names.append(spec.name))
    return names


def test_the_readme_has_one_example_per_kind():
    kinds = set()
    for name in EXAMPLES:
        mod = _module(name)
        reg = Registry.build(mod, allow=[])
        kinds |= {reg.get_modality(n).kind.value for n in _registered(mod)}
    assert len(EXAMPLES) >= 5 and kinds >= {"dense", "feature_map", "sequence", "embedding"}
    assert "VectorTokenizerFactory" in " ".join(EXAMPLES.values())


@pytest.mark.parametrize("name", sorted(EXAMPLES))
def test_readme_example_passes_the_conformance_kit(name):
    mod = _module(name)
    reg = Registry.build(mod, allow=[])
    for modality in _registered(mod):
        report = check_modality(reg, modality)
        assert report["declaration"] == "ok" and report["masking"] == "ok" and report["model"] == "ok"
        spec = reg.get_modality(modality)
        assert report["tokenizer"] == ("ok" if spec.has_tokenizer else report["tokenizer"])
        assert spec.has_tokenizer or report["tokenizer"].startswith("skipped")


def test_toolkit_names_are_exported():
    for name in ("DenseAdapter", "DenseTokenizerFactory", "sequence_tokenizer_factory", "VectorTokenizerFactory",
                 "TEXT_TOKENS_KEY", "npy_codec", "json_codec"):
        assert name in fourm_registry.__all__ and getattr(fourm_registry, name) is not None


def test_conformance_text_tokenizer_honours_text_tokens():
    """Multi-word tags are single tokens, so a max_length counted in tags fits."""
    mod = _module("fourm_weather")
    spec = Registry.build(mod, allow=[]).get_modality(_registered(mod)[0])
    values = example_values(spec)
    tok = small_tokenizer(spec, values)
    tags = spec.extras[fourm_registry.TEXT_TOKENS_KEY]
    longest = [str(t) for t in tags]
    ids = tok.encode([longest])[0]
    assert len(ids) == 2 * len(tags) - 1 <= spec.tokenizer.max_length
    assert tok.decode([ids])[0] == longest
    untrained = spec.create_tokenizer()  # character pieces: overflows the same max_length
    assert len(untrained.text.encode(spec.to_text(longest))) > spec.tokenizer.max_length


def test_vector_tokenizer_trains_and_reloads(tmp_path):
    mod = _module("fourm_scenevec")
    spec = Registry.build(mod, allow=[]).get_modality(_registered(mod)[0])
    tok = spec.create_tokenizer()
    values = [np.random.default_rng(i).standard_normal(spec.extras["examples"](spec, np.random.default_rng(0))[0].size)
              .astype(np.float32) for i in range(16)]
    losses = tok.fit(values, steps=30, batch_size=8)
    assert losses[-1] < losses[0]
    tok.save_pretrained(tmp_path)
    again = spec.create_tokenizer(tmp_path)
    assert [a.tolist() for a in again.encode(values[:3])] == [a.tolist() for a in tok.encode(values[:3])]


def test_readme_sample_labeler_reads_other_fields_and_runs_after_them():
    from fourm_registry.labeling.labelers import run_order

    mod = _module("fourm_objcount")
    spec = Registry.build(mod, allow=[]).get_modality("object_count")
    assert spec.labeler.inputs == "sample"
    assert run_order(["object_count", "det"], {"object_count": spec.labeler.reads}) == ["det", "object_count"]
    fn = spec.create_labeler()
    assert fn([{"det": [1, 2, 3]}, {}]) == [{"objects": 3}, {"objects": 0}]
