"""``fourm merge``: uniform (weighted average), width (JAM's block rule), cross (two trunks fused)."""
from __future__ import annotations

import json

import pytest
import torch
from safetensors.torch import load_file

from ._model_helpers import make_batch, small_registry
from fourm_registry import FourmError, Registry
from fourm_registry.merging import merge
from fourm_registry.merging.cross_model import load_cross
from fourm_registry.model import FourM, FourMConfig, build_model

from ._torch_threads import one_torch_thread  # noqa: F401  (autouse)

CFG = FourMConfig(dim=32, encoder_depth=2, decoder_depth=2, num_heads=2)
MODS_A, MODS_B = ["rgb", "depth", "caption"], ["rgb", "semseg", "caption"]


@pytest.fixture(scope="module")
def registry():
    return small_registry()


def export(tmp_path_factory, registry, mods, seed, cfg=CFG, name=None):
    torch.manual_seed(seed)
    model = build_model(cfg, registry, mods)
    out = tmp_path_factory.mktemp(name or f"parent{seed}")
    model.save_pretrained(out)
    return out


@pytest.fixture(scope="module")
def parents(tmp_path_factory, registry):
    return export(tmp_path_factory, registry, MODS_A, 1), export(tmp_path_factory, registry, MODS_B, 2)


def run_merge(a, b, method, out, registry, **kw):
    lines = []
    plan, path = merge(a, b, method, out, registry=registry, echo=lines.append, **kw)
    return plan, path, "\n".join(lines)


def logits(model, registry, names, targets, seed=0):
    batch = make_batch(registry, names, seed=seed)
    batch = {n: mb for n, mb in batch.items()}
    for n in names:
        if n not in targets:
            batch[n].targets = None
    with torch.no_grad():
        return model.eval()(batch, return_logits=True).logits


# -- uniform -------------------------------------------------------------------------------
def test_uniform_with_itself_is_bit_identical(parents, registry, tmp_path):
    a, _ = parents
    _, out, text = run_merge(a, a, "uniform", tmp_path / "same", registry, weights="0.3,0.7")
    assert "Merge plan (uniform)" in text and "averaged" in text
    before, after = load_file(a / "model.safetensors"), load_file(out / "model.safetensors")
    assert before.keys() == after.keys()
    assert all(torch.equal(before[k], after[k]) for k in before)


def test_uniform_is_the_weighted_average_and_covers_the_union(parents, registry, tmp_path):
    a, b = parents
    plan, out, text = run_merge(a, b, "uniform", tmp_path / "u", registry, weights="0.25,0.75")
    sa, sb, sm = (load_file(p / "model.safetensors") for p in (a, b, out))
    trunk = "encoder.0.attn.qkv.weight"
    assert torch.equal(sm[trunk], sa[trunk] * 0.25 + sb[trunk] * 0.75)
    assert torch.equal(sm["encoder_embeddings.depth.token_emb.weight"], sa["encoder_embeddings.depth.token_emb.weight"])
    assert torch.equal(sm["decoder_embeddings.semseg.to_logits.weight"], sb["decoder_embeddings.semseg.to_logits.weight"])
    shared = "encoder_embeddings.rgb.token_emb.weight"
    assert torch.equal(sm[shared], sa[shared] * 0.25 + sb[shared] * 0.75)
    merged = FourM.from_pretrained(out, registry)
    assert set(merged.modalities) == set(MODS_A) | set(MODS_B)
    counts = plan.counts()
    assert counts["copied from A"][0] > 0 and counts["copied from B"][0] > 0
    assert "only in A" in text and "depth" in text and "only in B" in text
    assert json.loads((out / "merge.json").read_text())["method"] == "uniform"


# -- width ---------------------------------------------------------------------------------
def test_width_block_rule_property(parents, registry, tmp_path):
    """JAM §2.1: W [x_A; x_B] = [W_A (x_A + x_B); W_B (x_A + x_B)] for every fused matrix."""
    a, b = parents
    _, out, text = run_merge(a, b, "width", tmp_path / "w", registry)
    merged = FourM.from_pretrained(out, registry)
    pa, pb = FourM.from_pretrained(a, registry), FourM.from_pretrained(b, registry)
    assert merged.config.dim == 2 * CFG.dim and merged.config.num_heads == 2 * CFG.num_heads
    assert merged.config.mlp_hidden == 2 * CFG.mlp_hidden
    d = CFG.dim
    torch.manual_seed(0)
    for path in ("encoder.1.attn.proj", "decoder.0.cross_attn.q", "encoder.0.mlp.fc1", "decoder_proj_context"):
        lin_m, lin_a, lin_b = (m.get_submodule(path) for m in (merged, pa, pb))
        x = torch.randn(5, lin_m.in_features)
        half = lin_a.in_features
        y = lin_m(x)
        s = x[:, :half] + x[:, half:]
        assert torch.allclose(y[:, : lin_a.out_features], lin_a(s), atol=1e-5), path
        assert torch.allclose(y[:, lin_a.out_features:], lin_b(s), atol=1e-5), path
    # fused qkv: A's heads first, per part (q, k, v)
    qkv_m, qkv_a = merged.encoder[0].attn.qkv.weight, pa.encoder[0].attn.qkv.weight
    assert torch.equal(qkv_m[:d, :d], qkv_a[:d]) and torch.equal(qkv_m[2 * d:3 * d, d:], qkv_a[d:2 * d])
    # embeddings are concatenated; a modality B lacks gets zeros in B's half
    emb = merged.encoder_embeddings["depth"].token_emb.weight
    assert torch.equal(emb[:, :d], pa.encoder_embeddings["depth"].token_emb.weight)
    assert not emb[:, d:].any()
    assert "concatenated" in text and "rebuilt" in text and "zeros for B" in text


def test_width_needs_same_size(parents, registry, tmp_path_factory, tmp_path):
    a, _ = parents
    wide = export(tmp_path_factory, registry, MODS_B, 3, FourMConfig(dim=64, encoder_depth=2, decoder_depth=2,
                                                                      num_heads=2), "wide")
    with pytest.raises(FourmError, match="dim 32 vs 64"):
        run_merge(a, wide, "width", tmp_path / "x", registry)
    assert not (tmp_path / "x").exists()


# -- cross ---------------------------------------------------------------------------------
def test_cross_computes_each_parent_at_init(parents, registry, tmp_path):
    a, b = parents
    plan, out, text = run_merge(a, b, "cross", tmp_path / "c", registry, every=1, weights="0.5,0.5")
    merged = load_cross(out, registry)
    pa, pb = FourM.from_pretrained(a, registry), FourM.from_pretrained(b, registry)
    la, lm = logits(pa, registry, ["rgb", "depth"], {"depth"}), logits(merged, registry, ["rgb", "depth"], {"depth"})
    assert torch.equal(la["depth"], lm["depth"])
    lb, lm = logits(pb, registry, ["rgb", "semseg"], {"semseg"}), logits(merged, registry, ["rgb", "semseg"], {"semseg"})
    assert torch.equal(lb["semseg"], lm["semseg"])
    assert plan.counts()["new"][0] > 0 and "fusion" in text
    # shared modality: the weighted mix of both parents' logits
    mix = [logits(m, registry, ["rgb", "caption"], {"caption"})["caption"] for m in (pa, pb, merged)]
    assert torch.allclose(mix[2], 0.5 * mix[0] + 0.5 * mix[1], atol=1e-5)


def test_cross_trains_and_decodes_with_cache(parents, registry, tmp_path):
    a, b = parents
    _, out, _ = run_merge(a, b, "cross", tmp_path / "c2", registry, every=2)
    merged = load_cross(out, registry)
    merged.train()
    batch = make_batch(registry, ["rgb", "depth", "semseg", "caption"], seed=3)
    merged(batch).loss.backward()
    fusion = merged.encoder_fusion["1"].a_from_b.proj.weight
    assert fusion.grad is not None and fusion.grad.abs().sum() > 0
    merged.eval()
    from fourm_registry.generation.fourm_adapter import FourMPredictor

    pred = FourMPredictor(merged)
    inputs = {"rgb": make_batch(registry, ["rgb"], batch_size=2, seed=4)["rgb"]}
    ctx = pred.encode(inputs)
    tokens = torch.tensor([[4, 300 - 1, 250], [4, 210, 220]])
    with torch.no_grad():
        cached, full = pred.sequence_decoder(ctx, "caption"), pred.sequence_decoder(ctx, "caption", use_cache=False)
        steps_c = [cached(tokens[:, : i + 1]) for i in range(3)]
        steps_f = [full(tokens[:, : i + 1]) for i in range(3)]
    assert all(torch.allclose(c, f, atol=1e-5) for c, f in zip(steps_c, steps_f))


def test_cross_different_depths_is_one_error(parents, registry, tmp_path_factory, tmp_path):
    a, _ = parents
    deep = export(tmp_path_factory, registry, MODS_B, 4, FourMConfig(dim=32, encoder_depth=3, decoder_depth=2,
                                                                      num_heads=2), "deep")
    with pytest.raises(FourmError, match="A has encoder_depth 2, B has encoder_depth 3"):
        run_merge(a, deep, "cross", tmp_path / "x", registry)
    assert not (tmp_path / "x").exists()


# -- errors --------------------------------------------------------------------------------
def test_errors_write_nothing(parents, registry, tmp_path_factory, tmp_path):
    a, b = parents
    other = tmp_path_factory.mktemp("otherfamily")
    (other / "config.json").write_text(json.dumps({"format": "someone-else/3", "model": {}}))
    with pytest.raises(FourmError, match="not a fourm checkpoint"):
        run_merge(a, other, "uniform", tmp_path / "x", registry)
    retok = small_registry().with_overrides({"caption": {"vocab_size": 400}})
    c = export(tmp_path_factory, retok, MODS_B, 5, name="retok")
    with pytest.raises(FourmError, match="'caption' has different tokenizers.*vocab_size: 300 vs 400"):
        run_merge(a, c, "uniform", tmp_path / "x", retok)
    big = export(tmp_path_factory, registry, MODS_B, 6, FourMConfig(dim=64, encoder_depth=2, decoder_depth=2,
                                                                     num_heads=2), "big")
    with pytest.raises(FourmError, match="same architecture.*dim 32 vs 64"):
        run_merge(a, big, "uniform", tmp_path / "x", registry)
    with pytest.raises(FourmError, match="sum to 1"):
        run_merge(a, b, "uniform", tmp_path / "x", registry, weights="0.5,0.6")
    assert not (tmp_path / "x").exists()
    assert not [p for p in tmp_path.iterdir()]


def test_tokenizer_fingerprints_must_agree_and_are_carried(parents, registry, tmp_path):
    import shutil

    a, b = parents
    copies = []
    for i, src in enumerate((a, b)):
        dst = tmp_path / f"p{i}"
        shutil.copytree(src, dst)
        (dst / "tokenizers" / "vq_rgb").mkdir(parents=True)
        (dst / "tokenizers" / "vq_rgb" / "config.json").write_text("{}")
        fp = "sha256:" + ("a" if i == 0 else "b") * 64
        (dst / "provenance.json").write_text(json.dumps({"trained_on": {"rgb": {"fingerprint": fp}},
                                                          "tokenizers": {}}))
        copies.append(dst)
    with pytest.raises(FourmError, match="'rgb' has different tokenizers in A and B \\(fingerprints"):
        run_merge(copies[0], copies[1], "uniform", tmp_path / "x", registry)
    assert not (tmp_path / "x").exists()
    (copies[1] / "provenance.json").write_text((copies[0] / "provenance.json").read_text())
    _, out, _ = run_merge(copies[0], copies[1], "uniform", tmp_path / "ok", registry)
    prov = json.loads((out / "provenance.json").read_text())
    assert prov["trained_on"]["rgb"]["fingerprint"].startswith("sha256:aaa")
    assert (out / "tokenizers" / "vq_rgb" / "config.json").is_file()


def test_cross_family_builds_what_init_loads(parents, tmp_path):
    """The built-in 4m-cross family: a run's model section = the export's, and --init loads every weight."""
    from fourm_registry import Registry
    from fourm_registry.training.build import load_initial_weights

    from ._model_helpers import InputOnlyKinds, SMALL

    reg = Registry.build(InputOnlyKinds(), allow=[]).with_overrides(SMALL)  # 4m-cross is built in
    a, b = parents
    _, out, _ = run_merge(a, b, "cross", tmp_path / "c", reg, every=2)
    exported = json.loads((out / "config.json").read_text())
    spec = reg.get_family("4m-cross")
    model = spec.build(spec.validate_model(exported["model"]), reg, reg.select(list(exported["modalities"])))
    assert load_initial_weights(model, out, set()) == []
    assert spec.generator(model).target_modalities == list(model.decoder_embeddings)


def test_released_4m_models_merge(tmp_path):
    """A released model (ml-4m layout) is a parent like an export: merged with itself it comes back."""
    from ._ml4m_fixture import FM

    registry = Registry.build(allow=[])
    lines = []
    _, out = merge(FM, FM, "uniform", tmp_path / "m", registry=registry, echo=lines.append, weights="0.3,0.7")
    original, merged = FourM.from_pretrained(FM, registry), FourM.from_pretrained(out, registry)
    assert "Merge plan (uniform)" in lines[0] and set(merged.specs) == set(original.specs)
    a, b = original.state_dict(), merged.state_dict()
    assert set(a) == set(b) and all(torch.allclose(a[k], b[k], atol=1e-6) for k in a)
