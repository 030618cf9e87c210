"""VQ-VAE tokenizers of the dense modalities: shapes, bad input, saving, the quantiser."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fourm_registry import FourmError
from fourm_registry.tokenizers import BadValueError, load_tokenizers
from fourm_registry.tokenizers.vq import CosineQuantizer

from ._torch_threads import one_torch_thread  # noqa: F401  (autouse)

TINY = {"channels": [8, 16, 16, 16], "norm_num_groups": 8}  # 8 px per token


def tiny(registry, name: str, vocab: int = 64, **model):
    spec = registry.get_modality(name).with_overrides(image_size=32, patch_size=8, vocab_size=vocab)
    if name == "clip":
        spec = spec.with_overrides(extras={"channels": 16})
    settings = {**TINY, **({"channels": [16]} if name == "clip" else {}), **model}
    return spec.tokenizer.factory.fresh(spec, **settings)


def _value(name: str, h: int = 32, w: int = 32, rng=np.random.default_rng(0)):
    if name == "rgb":
        return rng.integers(0, 256, (h, w, 3), dtype=np.uint8)
    if name == "depth":
        return rng.uniform(0.5, 10, (h, w)).astype(np.float32)
    if name == "normal":
        n = rng.normal(size=(h, w, 3)).astype(np.float32)
        return n / np.linalg.norm(n, axis=-1, keepdims=True)
    if name == "semseg":
        return rng.integers(0, 133, (h, w)).astype(np.uint8)
    return rng.normal(size=(h // 8, w // 8, 16)).astype(np.float32)  # clip: token resolution


@pytest.mark.parametrize("name", ["rgb", "depth", "normal", "semseg", "clip"])
def test_encode_decode_shapes(registry, name: str) -> None:
    tok = tiny(registry, name)
    values = [_value(name), _value(name), _value(name, 48, 64)]
    tokens = tok.encode(values)
    assert [t.shape for t in tokens] == [(4, 4), (4, 4), (6, 8)]
    assert all(t.min() >= 0 and t.max() < 64 for t in tokens)
    back = tok.decode(tokens)
    for value, out in zip(values, back):
        assert out.shape == value.shape
        assert out.dtype == value.dtype
    if name == "normal":
        assert np.allclose(np.linalg.norm(back[0], axis=-1), 1, atol=1e-4)


def test_default_specs_give_14x14_tokens_at_224(registry) -> None:
    tok = registry.get_modality("rgb").tokenizer.factory.fresh(
        registry.get_modality("rgb"), channels=[8, 8, 16, 16, 16], norm_num_groups=8)
    assert tok.vocab_size == 16384 and tok.config.code_dim == 32
    [t] = tok.encode([np.zeros((224, 224, 3), np.uint8)])
    assert t.shape == (14, 14)


@pytest.mark.parametrize("name, value, match", [
    ("rgb", np.zeros((30, 32, 3), np.uint8), "not a positive multiple of"),
    ("rgb", np.zeros((32, 32, 4), np.uint8), "expected 3 channels"),
    ("rgb", np.zeros((32, 32, 3), np.float32), "uint8"),
    ("depth", np.full((32, 32), np.nan, np.float32), "NaN"),
    ("depth", np.zeros((32, 32, 1), np.float32), "2-d array"),
    ("normal", np.zeros((32, 32, 2), np.float32), "expected 3 channels"),
    ("semseg", np.full((32, 32), 200, np.uint8), r"class ids must lie in 0\.\.132"),
    ("clip", np.zeros((4, 4, 15), np.float32), "expected 16 channels"),
])
def test_bad_values_name_modality_and_key(registry, name, value, match) -> None:
    tok = tiny(registry, name)
    with pytest.raises(BadValueError, match=match) as info:
        tok.encode([_value(name), value], keys=["good", "img_0042"])
    assert f"Modality '{name}'" in str(info.value) and "'img_0042'" in str(info.value)
    assert isinstance(info.value, FourmError)


def test_bad_tokens_name_modality_and_key(registry) -> None:
    tok = tiny(registry, "depth")
    with pytest.raises(BadValueError, match=r"'depth', sample 'k1': token ids must lie in 0\.\.63"):
        tok.decode([np.zeros((4, 4), np.int16), np.full((4, 4), 64)], keys=["k0", "k1"])
    with pytest.raises(BadValueError, match="h×w integer"):
        tok.decode([np.zeros((4, 4), np.float32)])


def test_save_and_load_pretrained(registry, tmp_path: Path) -> None:
    tok = tiny(registry, "semseg")
    tok.save_pretrained(tmp_path / "semseg")
    assert {p.name for p in (tmp_path / "semseg").iterdir()} == {"config.json", "model.safetensors"}
    spec = registry.get_modality("semseg")
    loaded = spec.create_tokenizer(tmp_path / "semseg")
    value = _value("semseg")
    assert np.array_equal(loaded.encode([value])[0], tok.encode([value])[0])
    assert loaded.config == tok.config
    # load_tokenizers finds it by directory name; a tokenizer in the wrong directory is refused
    assert set(load_tokenizers(tmp_path, registry)) == {"semseg"}
    tok.save_pretrained(tmp_path / "depth")
    with pytest.raises(FourmError, match="holds a tokenizer for 'semseg'"):
        load_tokenizers(tmp_path, registry, ["depth"])
    small = spec.with_overrides(vocab_size=32)
    with pytest.raises(FourmError, match="raise vocab_size"):
        small.create_tokenizer(tmp_path / "semseg")
    with pytest.raises(FourmError, match="not a saved VQ tokenizer"):
        spec.create_tokenizer(tmp_path / "nothing")


def test_invalid_model_settings_are_user_errors(registry) -> None:
    with pytest.raises(FourmError, match="channels needs 4 entries"):
        tiny(registry, "rgb", channels=[8, 16])
    with pytest.raises(FourmError, match="does not offer a diffusion decoder"):
        tiny(registry, "semseg", decoder="diffusion")


def test_quantizer_ema_and_dead_code_replacement() -> None:
    torch.manual_seed(0)
    q = CosineQuantizer(vocab_size=16, dim=4, decay=0.99, c_replace=32.0).train()
    z = torch.randn(2, 4, 4, 4)  # B=2, 16 tokens → T = 32 / (32 · 16) = 1/16
    z_q, idx, loss = q(z)
    assert z_q.shape == z.shape and idx.shape == (2, 4, 4) and loss.item() >= 0
    # every code started unused (EMA count 0 < T): all replaced by encoder outputs of the batch
    assert q.last_replaced == 16
    flat = torch.nn.functional.normalize(z.permute(0, 2, 3, 1).reshape(-1, 4), dim=-1)
    sims = q.embed @ flat.t()
    assert torch.allclose(sims.max(dim=1).values, torch.ones(16), atol=1e-5)
    assert torch.allclose(q.cluster_size, torch.full((16,), 1 / 16))
    # gradients flow straight through to the encoder output
    z.requires_grad_(True)
    z_q, _, loss = q(z)
    (z_q.sum() + loss).backward()
    assert z.grad is not None and z.grad.abs().sum() > 0
    q.eval()
    before = q.embed.clone()
    q(torch.randn(1, 4, 2, 2))
    assert torch.equal(before, q.embed)  # no updates outside training


def test_reconstruction_losses_by_name() -> None:
    """Each named loss is what it says; L1 keeps a constant pull on small errors, L1+MSE adds
    the quadratic term (the normal tokenizer's flat floor comes from that)."""
    from fourm_registry.tokenizers.losses import reconstruction_loss

    pred, target = torch.tensor([0.1, -0.2, 2.0]), torch.zeros(3)
    l1, mse = float((pred.abs()).mean()), float((pred ** 2).mean())
    assert reconstruction_loss("l1", pred, target).item() == pytest.approx(l1)
    assert reconstruction_loss("mse", pred, target).item() == pytest.approx(mse)
    assert reconstruction_loss("l1_mse", pred, target).item() == pytest.approx(l1 + mse)
    smooth = float(torch.where(pred.abs() < 1, 0.5 * pred ** 2, pred.abs() - 0.5).mean())
    assert reconstruction_loss("smooth_l1", pred, target).item() == pytest.approx(smooth)
    small = torch.tensor([0.01], requires_grad=True)  # the gradient that flattens a floor
    reconstruction_loss("l1", small, torch.zeros(1)).backward()
    assert small.grad.item() == pytest.approx(1.0)


@pytest.mark.parametrize("name", ["rgb", "depth", "normal", "semseg"])
def test_expected_codes_of_certain_cells_decode_as_their_tokens(registry, name: str) -> None:
    """One-hot code probabilities are the tokens themselves: the same output, to float rounding."""
    tok = tiny(registry, name)
    tokens = tok.encode([_value(name), _value(name)])
    probs = torch.nn.functional.one_hot(torch.from_numpy(np.stack(tokens)).long(), tok.vocab_size).float()
    for hard, soft in zip(tok.decode(tokens), tok.decode_expected(probs), strict=True):
        assert soft.shape == hard.shape and soft.dtype == hard.dtype
        if name == "semseg":
            assert (soft == hard).mean() > 0.99  # argmax of equal logits up to rounding
        else:
            assert np.allclose(soft.astype(np.float64), hard.astype(np.float64), atol=1 if name == "rgb" else 1e-4)
    with pytest.raises(ValueError, match="code probabilities"):
        tok.decode_expected(probs[..., :-1])


def test_expected_code_is_the_renormalised_weighted_mean() -> None:
    q = CosineQuantizer(vocab_size=4, dim=3)
    probs = torch.tensor([0.25, 0.75, 0.0, 0.0]).expand(1, 1, 2, 4)
    z = q.expected(probs)
    want = torch.nn.functional.normalize(0.25 * q.embed[0] + 0.75 * q.embed[1], dim=0)
    assert z.shape == (1, 3, 1, 2) and torch.allclose(z[0, :, 0, 1], want, atol=1e-6)
    assert torch.allclose(z.norm(dim=1), torch.ones(1, 1, 2))
