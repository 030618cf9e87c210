"""The 4M model: structure, attention masks, every modality combination, save/load, KV cache."""
from __future__ import annotations

import itertools
from dataclasses import replace

import pytest
import torch

from ._model_helpers import make_batch, small_registry
from fourm_registry import FourmError
from fourm_registry.model import PRESETS, FourM, FourMConfig, build_model

from ._torch_threads import one_torch_thread  # noqa: F401  (autouse)

SMALL_CFG = FourMConfig(dim=64, encoder_depth=2, decoder_depth=2, num_heads=4)
DENSE_SEQ = ["rgb", "depth", "caption"]




@pytest.fixture(scope="module")
def registry():
    return small_registry()


@pytest.fixture(scope="module")
def model(registry):
    torch.manual_seed(0)
    return build_model(SMALL_CFG, registry, DENSE_SEQ).eval()


def trunk_params(model: FourM) -> int:
    return sum(p.numel() for n, p in model.named_parameters() if not n.startswith(("encoder_embeddings",
                                                                                     "decoder_embeddings")))


@pytest.mark.parametrize("preset", list(PRESETS))
def test_presets_have_4m_sizes(registry, preset):
    with torch.device("meta"):
        m = build_model({"preset": preset}, registry, ["rgb", "caption"])
    d, e, k = PRESETS[preset]["dim"], PRESETS[preset]["encoder_depth"], PRESETS[preset]["decoder_depth"]
    hidden = int(2 * 4 * d / 3)  # SwiGLU
    enc = 4 * d * d + 3 * d * hidden + 2 * d
    dec = 8 * d * d + 3 * d * hidden + 4 * d
    assert trunk_params(m) == e * enc + k * dec + 2 * d + d * d + d + d
    assert m.encoder[0].attn.num_heads == PRESETS[preset]["num_heads"]
    if preset == "base":
        assert trunk_params(m) == 198_829_056


def test_parameter_names_follow_4m(model):
    keys = set(model.state_dict())
    for key in ["encoder.0.attn.qkv.weight", "encoder.0.attn.proj.weight", "encoder.1.mlp.fc3.weight",
                "decoder.0.self_attn.qkv.weight", "decoder.0.cross_attn.q.weight", "decoder.0.cross_attn.kv.weight",
                "decoder.0.query_norm.weight", "decoder.0.context_norm.weight", "decoder_proj_context.bias",
                "encoder_norm.weight", "decoder_norm.weight", "mask_token", "encoder_embeddings.rgb.token_emb.weight",
                "encoder_embeddings.rgb.mod_emb", "decoder_embeddings.caption.to_logits.weight",
                "decoder_embeddings.depth.pos_emb"]:
        assert key in keys, key
    assert not [k for k in keys if k.startswith(("encoder.", "decoder.")) and k.endswith(".bias")]
    assert model.decoder_embeddings["rgb"].mod_emb is model.encoder_embeddings["rgb"].mod_emb
    cap = model.decoder_embeddings["caption"]
    assert cap.to_logits.weight is cap.token_emb.weight


def test_2d_positions_match_4m_formula(model):
    d, side = 64, 4
    omega = 1.0 / 10000 ** (torch.arange(d // 4) / (d // 4))
    gw, gh = torch.meshgrid(torch.arange(side, dtype=torch.float32), torch.arange(side, dtype=torch.float32),
                            indexing="ij")
    ow, oh = gw.reshape(-1, 1) * omega, gh.reshape(-1, 1) * omega
    expected = torch.cat([ow.sin(), ow.cos(), oh.sin(), oh.cos()], dim=1)[None]
    assert torch.allclose(model.encoder_embeddings["rgb"].pos_emb, expected)


@pytest.mark.slow
def test_every_modality_combination_trains_with_tiny_preset(registry):
    """One tiny-preset model over all registered modalities; batches with each 1-, 2- and all-modality mix."""
    names = sorted(registry.modalities)
    torch.manual_seed(0)
    model = build_model({"preset": "tiny"}, registry, names)
    combos = [list(c) for r in (1, 2) for c in itertools.combinations(names, r)] + [names]
    trained = 0
    for i, combo in enumerate(combos):
        batch = make_batch(registry, combo, batch_size=2, seed=i)
        if all(registry.get_modality(n).input_only for n in combo):
            with pytest.raises(FourmError, match="no target"):
                model(batch)
            continue
        model.zero_grad()
        out = model(batch)
        out.loss.backward()
        assert torch.isfinite(out.loss)
        assert set(out.losses) <= set(combo)
        for name in combo:  # a modality with visible tokens gets gradient into its input embedding
            if batch[name].input_mask.any():
                grads = [p.grad for p in model.encoder_embeddings[name].parameters()]
                assert any(g is not None and g.abs().sum() > 0 for g in grads), (combo, name)
        trained += 1
    assert trained >= len(names) * (len(names) - 1) // 2


def test_causal_sequence_logits_ignore_later_tokens(model, registry):
    batch = make_batch(registry, ["rgb", "caption"], seed=1, masking=None)
    cap = batch["caption"]
    cap.targets = torch.randint(204, 300, (cap.targets.shape[0], 8))
    cap.target_mask = torch.ones_like(cap.targets, dtype=torch.bool)
    ctx, ctx_mask = model.encode(batch)
    before = model.decode("caption", cap, ctx, ctx_mask)
    changed = replace(cap, targets=cap.targets.clone())
    changed.targets[:, 5] = 250
    after = model.decode("caption", changed, ctx, ctx_mask)
    assert torch.allclose(before[:, :5], after[:, :5], atol=1e-6)
    assert not torch.allclose(before[:, 5:], after[:, 5:])
    # the training forward agrees: rows are (sample, position) ordered, 7 steps per sample
    full = model(batch, return_logits=True).logits["caption"].view(3, 7, -1)
    assert torch.allclose(full, before[:, :7], atol=1e-5)


def test_decoder_modalities_do_not_see_each_other(model, registry):
    batch = make_batch(registry, DENSE_SEQ, seed=2)
    base = model(batch, return_logits=True).logits
    other = {n: replace(mb) for n, mb in batch.items()}
    other["caption"].targets = torch.randint(204, 300, batch["caption"].targets.shape)
    depth = other["depth"]
    depth.target_mask = ~depth.target_mask & ~depth.input_mask  # other depth cells are predicted
    after = model(other, return_logits=True).logits
    assert torch.allclose(base["rgb"], after["rgb"], atol=1e-6)
    other["rgb"].inputs = (batch["rgb"].inputs + 1) % 64  # the encoder side does reach every target
    assert not torch.allclose(base["rgb"], model(other, return_logits=True).logits["rgb"], atol=1e-4)


def test_samples_do_not_depend_on_batch_padding(model, registry):
    batch = make_batch(registry, DENSE_SEQ, batch_size=4, seed=3)
    full = model(batch, return_logits=True).logits
    alone = {n: type(mb)(*(t[:1] if t is not None else None for t in (mb.inputs, mb.input_mask, mb.targets,
                                                                        mb.target_mask)))
             for n, mb in batch.items()}
    single = model(alone, return_logits=True).logits
    for name, logits in single.items():
        assert torch.allclose(full[name][: logits.shape[0]], logits, atol=1e-5), name


def test_sdpa_matches_explicit_attention(registry):
    batch = make_batch(registry, DENSE_SEQ, seed=4)
    torch.manual_seed(1)
    a = build_model(SMALL_CFG, registry, DENSE_SEQ).eval()
    b = build_model(SMALL_CFG.model_copy(update={"attention": "math"}), registry, DENSE_SEQ).eval()
    b.load_state_dict(a.state_dict())
    assert torch.allclose(a(batch).loss, b(batch).loss, atol=1e-5)


def test_attention_under_cpu_bf16_autocast_runs_in_fp32_and_trains(registry):
    """Under CPU bf16 autocast SDPA gets fp32 inputs (torch's bf16 CPU flash backward is slow)
    and returns the caller's dtype; the loss stays close to fp32 and gradients reach every
    attention weight."""
    from fourm_registry.model import attention

    seen = []
    real = attention.F.scaled_dot_product_attention

    def spy(q, k, v, **kw):
        seen.append(q.dtype)
        return real(q, k, v, **kw)

    batch = make_batch(registry, DENSE_SEQ, seed=4)
    torch.manual_seed(1)
    model = build_model(SMALL_CFG, registry, DENSE_SEQ)
    fp32 = model(batch).loss
    attention.F.scaled_dot_product_attention = spy
    try:
        with torch.autocast("cpu", dtype=torch.bfloat16):
            low = model(batch).loss
    finally:
        attention.F.scaled_dot_product_attention = real
    assert seen and set(seen) == {torch.float32}
    assert abs(float(low) - float(fp32)) < 0.02 * abs(float(fp32))
    low.backward()
    qkv = [p for n, p in model.named_parameters() if n.endswith("attn.qkv.weight")]
    assert qkv and all(p.grad is not None and p.grad.dtype == torch.float32 and p.grad.abs().sum() > 0 for p in qkv)


def test_kv_cache_decoding_matches_full_decode(model, registry):
    batch = make_batch(registry, DENSE_SEQ, seed=5)
    cap = batch["caption"]
    ctx, ctx_mask = model.encode(batch)
    full = model.decode("caption", cap, ctx, ctx_mask)
    cache = model.new_cache()
    steps = [model.decode("caption", replace(cap, targets=cap.targets[:, :t], target_mask=cap.target_mask[:, :t]),
                          ctx, ctx_mask, cache) for t in range(1, cap.targets.shape[1] + 1)]
    assert torch.allclose(torch.cat(steps, dim=1), full, atol=1e-5)


def test_loss_types(registry):
    batch = make_batch(registry, DENSE_SEQ, seed=6)
    torch.manual_seed(2)
    mod = build_model(SMALL_CFG, registry, DENSE_SEQ).eval()
    tok = build_model(SMALL_CFG.model_copy(update={"loss_type": "token"}), registry, DENSE_SEQ).eval()
    tok.load_state_dict(mod.state_dict())
    out = mod(batch, return_logits=True)
    assert torch.allclose(out.loss, sum(out.losses.values()) / len(out.losses))
    counts = {n: out.logits[n].shape[0] for n in out.losses}
    per_token = sum(out.losses[n] * counts[n] for n in counts) / sum(counts.values())
    assert torch.allclose(tok(batch).loss, per_token, atol=1e-6)


def test_activation_checkpointing_gives_same_gradients(registry):
    batch = make_batch(registry, DENSE_SEQ, seed=7)
    torch.manual_seed(3)
    plain = build_model(SMALL_CFG, registry, DENSE_SEQ)
    ckpt = build_model(SMALL_CFG.model_copy(update={"act_checkpoint": True}), registry, DENSE_SEQ)
    ckpt.load_state_dict(plain.state_dict())
    plain(batch).loss.backward()
    ckpt(batch).loss.backward()
    for (name, p), q in zip(plain.named_parameters(), ckpt.parameters()):
        assert torch.allclose(p.grad, q.grad, atol=1e-6), name


def test_untied_sequence_head(registry):
    m = build_model(SMALL_CFG.model_copy(update={"tie_sequence_embeddings": False}), registry, ["caption"])
    cap = m.decoder_embeddings["caption"]
    assert cap.to_logits.weight is not cap.token_emb.weight


def test_save_and_load_roundtrip(model, registry, tmp_path):
    batch = make_batch(registry, DENSE_SEQ, seed=8)
    model.save_pretrained(tmp_path / "m")
    cfg = (tmp_path / "m" / "config.json").read_text()
    assert '"caption"' in cfg and '"image_size": 32' in cfg
    loaded = FourM.from_pretrained(tmp_path / "m", registry=small_registry().with_overrides(
        {"rgb": {"image_size": 224, "patch_size": 16}})).eval()  # sizes come from config.json
    assert loaded.specs["rgb"].tokenizer.image_size == 32
    assert torch.allclose(model(batch).loss, loaded(batch).loss)
    cap = loaded.decoder_embeddings["caption"]
    assert cap.to_logits.weight is cap.token_emb.weight


def test_user_errors(model, registry):
    batch = make_batch(registry, ["rgb", "normal"], seed=9)
    with pytest.raises(FourmError, match="normal"):
        model(batch)
    with pytest.raises(FourmError, match="input-only"):
        build_model(SMALL_CFG, registry, ["tpix"])
    with pytest.raises(Exception, match="num_heads"):
        FourMConfig(dim=64, encoder_depth=1, decoder_depth=1, num_heads=5)
    with pytest.raises(FourmError, match="not a model directory|Could not fetch"):
        FourM.from_pretrained("/nonexistent/model", registry=registry)


def test_checkpoint_carries_json_extras(registry, tmp_path):
    """Run-level extras (e.g. the class names of the data) travel with the checkpoint."""
    reg = registry.with_overrides({"depth": {"extras": {"class_names": ["near", "far"], "fn": len}}})
    build_model(SMALL_CFG, reg, DENSE_SEQ).save_pretrained(tmp_path / "m")
    loaded = FourM.from_pretrained(tmp_path / "m", registry=small_registry())
    extras = loaded.specs["depth"].extras
    assert extras["class_names"] == ["near", "far"]
    assert "fn" not in extras  # not JSON: left out of config.json
