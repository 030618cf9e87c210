"""DINOv2 / ImageBind feature modalities: tiny saved transformers models, MLP global tokenizer."""
from __future__ import annotations

import numpy as np
import pytest

from fourm_registry import Registry
from fourm_registry.testing import ModalityConformance, check_train_and_generate

NAMES = ("dinov2", "dinov2_global", "imagebind", "imagebind_global")


class TestFeatureConformance(ModalityConformance):
    modalities = NAMES
    allow = ("features_4m21",)


@pytest.fixture(scope="module")
def registry():
    return Registry.build(allow=["features_4m21"])


@pytest.fixture(scope="module")
def tiny_models(tmp_path_factory):
    from transformers import CLIPVisionConfig, CLIPVisionModel, Dinov2Config, Dinov2Model

    root = tmp_path_factory.mktemp("hf")
    size = dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, intermediate_size=64,
                patch_size=14, image_size=224)
    Dinov2Model(Dinov2Config(**size)).save_pretrained(root / "dinov2")
    CLIPVisionModel(CLIPVisionConfig(**size)).save_pretrained(root / "clip")
    return {"dinov2": str(root / "dinov2"), "imagebind": str(root / "clip")}


def test_layouts_follow_4m21(registry):
    for name in ("dinov2", "imagebind"):
        assert registry.get_modality(name).tokenizer.grid == (16, 16)  # patch 14 at 224
        assert registry.get_modality(f"{name}_global").num_tokens == 16  # 4×4 tokens per embedding
    assert registry.get_modality("imagebind").extras["channels"] == 1280


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_labeler_runs_from_a_tiny_local_model(registry, tiny_models, name):
    from skimage import data

    spec = registry.get_modality(name)
    out = spec.create_labeler(tiny_models[name.removesuffix("_global")])([data.astronaut(), data.coffee()])
    shape = (32,) if name.endswith("_global") else (16, 16, 32)
    assert [v.shape for v in out] == [shape, shape] and all(v.dtype == np.float32 for v in out)
    assert not np.allclose(out[0], out[1])  # different images, different features
    small = spec.with_overrides(extras={**spec.extras, "channels": 32})
    tok = small.create_tokenizer()
    ids = tok.encode(out)
    assert ids[0].shape == small.tokenizer.grid and ids[0].max() < 8192
    assert [v.shape for v in tok.decode(ids)] == [shape, shape]
    np.testing.assert_array_equal(spec.codec.decode(spec.codec.encode(out[0])), out[0])


def test_global_tokenizer_learns_to_reconstruct(registry, tmp_path):
    spec = registry.get_modality("dinov2_global").with_overrides(
        vocab_size=256, extras={**registry.get_modality("dinov2_global").extras, "channels": 24})
    rng = np.random.default_rng(0)
    basis = rng.standard_normal((3, 24)).astype(np.float32)
    values = [(rng.standard_normal(3) @ basis).astype(np.float32) for _ in range(64)]
    tok = spec.tokenizer.factory.fresh(spec, hidden=128)
    cos = spec.extras["distance"]
    before = np.mean([cos(v, b) for v, b in zip(values, tok.decode(tok.encode(values)))])
    losses = tok.fit(values, steps=40, lr=3e-3)
    after = np.mean([cos(v, b) for v, b in zip(values, tok.decode(tok.encode(values)))])
    assert losses[-1] < losses[0] and after < before / 2
    tok.save_pretrained(tmp_path / "tok")
    again = spec.create_tokenizer(tmp_path / "tok")
    assert np.array_equal(np.stack(again.encode(values)), np.stack(tok.encode(values)))


def test_a_model_with_the_core_and_these_modalities_trains_and_generates_each():
    reg = Registry.build(allow=["features_4m21"])
    mine = list(NAMES)
    core = sorted(Registry.build(allow=[]).modalities)
    generated = check_train_and_generate(reg, core + mine)
    assert {n for n in mine if not reg.get_modality(n).input_only} <= set(generated)
