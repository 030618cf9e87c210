"""``fourm merge`` on the CM3 family (JAM's setting): a text-only parent + an image-text parent."""
from __future__ import annotations

import pytest
import torch
from safetensors.torch import load_file

from fourm_cm3 import CM3, CM3Cross
from fourm_cm3.decode import generate_mixed
from fourm_registry import FourmError, Registry
from fourm_registry.merging import merge

SETTINGS = {"rgb": {"image_size": 16, "patch_size": 4, "vocab_size": 32},
            "caption": {"max_length": 10, "vocab_size": 260}}


@pytest.fixture(scope="module")
def registry():
    return Registry.build(allow=["cm3"]).with_overrides(SETTINGS)


def export(registry, root, mods, seed, **cfg):
    spec = registry.get_family("cm3")
    torch.manual_seed(seed)
    model = spec.build(spec.validate_model({"dim": 32, "depth": 1, "num_heads": 2, "vocab": ["caption", "rgb"], **cfg}),
                       registry, registry.select(mods))
    return model.save_pretrained(root)


@pytest.fixture(scope="module")
def parents(registry, tmp_path_factory):
    root = tmp_path_factory.mktemp("cm3_parents")
    return export(registry, root / "text", ["caption"], 1), export(registry, root / "image_text", ["caption", "rgb"], 2)


def test_text_only_plus_image_text(registry, parents, tmp_path):
    text, image_text = parents
    lines = []
    _, out = merge(text, image_text, "uniform", tmp_path / "jam", registry=registry, echo=lines.append)
    assert "Merge plan (uniform)" in lines[0] and "rgb from B" in lines[0]
    sa, sb, sm = (load_file(p / "model.safetensors") for p in (text, image_text, out))
    model = CM3.from_pretrained(out)
    lo, hi = model.layout.span("rgb")
    assert torch.equal(sm["tok_emb.weight"][lo:hi], sb["tok_emb.weight"][lo:hi])
    assert torch.equal(sm["head.weight"][lo:hi], sb["head.weight"][lo:hi])
    c0, c1 = model.layout.span("caption")
    assert torch.equal(sm["tok_emb.weight"][c0:c1], 0.5 * sa["tok_emb.weight"][c0:c1] + 0.5 * sb["tok_emb.weight"][c0:c1])
    assert torch.equal(sm["blocks.0.attn.qkv.weight"], 0.5 * sa["blocks.0.attn.qkv.weight"] + 0.5 * sb["blocks.0.attn.qkv.weight"])
    assert set(model.records) == {"caption", "rgb"} and model.order == ["caption", "rgb"]


def test_merging_with_itself_is_bit_identical(registry, parents, tmp_path):
    _, image_text = parents
    _, out = merge(image_text, image_text, "uniform", tmp_path / "same", registry=registry, echo=lambda m: None,
                   weights="0.2,0.8")
    before, after = load_file(image_text / "model.safetensors"), load_file(out / "model.safetensors")
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_errors(registry, parents, tmp_path):
    text, image_text = parents
    deep = export(registry, tmp_path / "deep", ["caption"], 3, depth=2)
    with pytest.raises(FourmError, match="same depth: A has depth 1, B has depth 2"):
        merge(text, deep, "cross", tmp_path / "x", registry=registry, echo=lambda m: None)
    other = export(registry, tmp_path / "other", ["caption"], 3, vocab=["caption"])
    with pytest.raises(FourmError, match="different vocabularies"):
        merge(text, other, "uniform", tmp_path / "x", registry=registry, echo=lambda m: None)
    from fourm_registry.model import build_model

    fourm = build_model({"dim": 32, "encoder_depth": 1, "decoder_depth": 1, "num_heads": 2}, registry,
                        ["caption", "rgb"]).save_pretrained(tmp_path / "fourm")
    with pytest.raises(FourmError, match="different families: A .* is 'cm3', B .* is '4m'"):
        merge(text, fourm, "uniform", tmp_path / "x", registry=registry, echo=lambda m: None)
    assert not (tmp_path / "x").exists()


def test_width(registry, parents, tmp_path):
    """JAM-Width on CM3: twice the width; W [x_A; x_B] = [W_A (x_A + x_B); W_B (x_A + x_B)]."""
    text, image_text = parents
    _, out = merge(text, image_text, "width", tmp_path / "w", registry=registry, echo=lambda m: None)
    wide, pa, pb = CM3.from_pretrained(out), CM3.from_pretrained(text), CM3.from_pretrained(image_text)
    assert wide.config.dim == 64 and wide.config.num_heads == 4 and set(wide.records) == {"caption", "rgb"}
    for path in ("blocks.0.attn.proj", "blocks.0.mlp.fc1", "blocks.0.mlp.fc2"):
        lw, la, lb = (m.get_submodule(path) for m in (wide, pa, pb))
        xin = torch.randn(3, lw.in_features)
        h = la.in_features
        s = xin[:, :h] + xin[:, h:]
        y = lw(xin)
        assert torch.allclose(y[:, :la.out_features], la(s), atol=1e-5)
        assert torch.allclose(y[:, la.out_features:], lb(s), atol=1e-5)
    lo, hi = wide.layout.span("rgb")
    emb = wide.tok_emb.weight
    assert not emb[lo:hi, :32].any() and torch.equal(emb[lo:hi, 32:], pb.tok_emb.weight[lo:hi])  # A never saw rgb
    ids = torch.tensor([[1, 220, 3, lo + 2]])
    assert wide.logits(ids).shape == (1, 4, wide.layout.size)


def test_cross(registry, parents, tmp_path):
    """JAM-Cross on CM3: at merge, logits of B-only rows are B's, shared rows the --weights mix; each
    trunk is its parent; cached decoding equals uncached."""
    text, image_text = parents
    lines = []
    _, out = merge(text, image_text, "cross", tmp_path / "x", registry=registry, echo=lines.append)
    assert "copied from A" in lines[0] and "copied from B" in lines[0] and " new" in lines[0]
    fused, pa, pb = CM3Cross.from_pretrained(out), CM3.from_pretrained(text), CM3.from_pretrained(image_text)
    assert set(fused.records) == {"caption", "rgb"} and fused.order == ["caption", "rgb"]
    assert len(fused.fusion) == fused.config.a.depth and not any(f.a_from_b.proj.weight.any() for f in fused.fusion.values())
    c0, c1 = fused.layout.span("caption")
    lo, hi = fused.layout.span("rgb")
    ids = torch.tensor([[1, c0 + 5, c0 + 7, 3, lo + 2, lo + 9]])
    with torch.no_grad():
        y, ya, yb = fused.logits(ids), pa.logits(ids), pb.logits(ids)
    assert torch.allclose(y[..., lo:hi], yb[..., lo:hi], atol=1e-5)
    assert torch.allclose(y[..., c0:c1], 0.5 * ya[..., c0:c1] + 0.5 * yb[..., c0:c1], atol=1e-5)
    _, only_a = merge(text, image_text, "cross", tmp_path / "xa", registry=registry, echo=lambda m: None,
                      weights="1,0", every=2)
    fused_a = CM3Cross.from_pretrained(only_a)
    assert len(fused_a.fusion) == 0  # depth 1, a fusion after every 2nd block: none
    with torch.no_grad():
        assert torch.allclose(fused_a.logits(ids)[..., c0:c1], ya[..., c0:c1], atol=1e-5)
    with torch.no_grad():  # make the fusion matter, then compare cache on/off
        for f in fused.fusion.values():
            f.a_from_b.proj.weight.normal_(std=0.5)
            f.b_from_a.proj.weight.normal_(std=0.5)
    runs = [generate_mixed(fused, [5], "caption", "rgb", cfg_scale=2.0, use_cache=c) for c in (True, False)]
    assert runs[0].ids == runs[1].ids and [n for n, _ in runs[0].segments] == ["caption", "rgb", "caption"]
