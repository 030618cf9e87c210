"""AIMv2's pieces: the prefix mask, the loss on non-prefix patches only, features, config errors."""
from __future__ import annotations

import pytest
import torch

from fourm_aimv2 import AIMv2, AIMv2Config, image_loss, normalised_patches, prefix_mask
from fourm_registry.batch import ModalityBatch

torch.set_num_threads(1)
CFG = AIMv2Config(dim=32, depth=2, num_heads=4, decoder_dim=32, decoder_depth=1, decoder_heads=4)


def tiny(**kw) -> AIMv2:
    torch.manual_seed(0)
    return AIMv2(CFG.model_copy(update=kw), image_size=16, patch_size=4, vocab_size=50, max_length=6).eval()


def batch(prefix: list[int], b: int = 2, n: int = 16, seed: int = 0) -> dict:
    g = torch.Generator().manual_seed(seed)
    patches = torch.rand(b, n, 48, generator=g)
    target = torch.arange(n)[None] >= torch.tensor(prefix)[:, None]
    ids = torch.randint(4, 50, (b, 6), generator=g)
    return {"rgb": ModalityBatch(patches, torch.ones(b, n, dtype=torch.bool), torch.arange(n).expand(b, -1), target),
            "caption": ModalityBatch(ids, torch.ones(b, 6, dtype=torch.bool))}


@pytest.mark.parametrize("m", [1, 3, 15])
def test_prefix_mask(m):
    allowed = prefix_mask(torch.tensor([m]), 16)[0]
    for i in range(16):
        for j in range(16):
            if i < m and j < m:
                assert allowed[i, j], "prefix patches see each other"
            if i >= m and j > i:
                assert not allowed[i, j], "a non-prefix patch never sees a later patch"
            if j <= i:
                assert allowed[i, j]
    assert int(allowed.sum()) == m * m + sum(i + 1 for i in range(m, 16))


def test_non_prefix_features_do_not_depend_on_later_patches():
    model = tiny()
    images = torch.rand(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
    changed = images.clone()
    changed[:, :, 12:, 12:] = 1.0 - changed[:, :, 12:, 12:]  # the last patch only
    prefix = torch.tensor([5, 5])
    with torch.no_grad():
        a = model.encoder(model.pixel_values(images), prefix)
        c = model.encoder(model.pixel_values(changed), prefix)
    assert torch.allclose(a[:, :15], c[:, :15], atol=1e-6) and not torch.allclose(a[:, 15], c[:, 15])
    full_a, full_c = model.encode_features(images), model.encode_features(changed)
    assert not torch.allclose(full_a[:, :15], full_c[:, :15], atol=1e-4), "inference is bidirectional"


def test_image_loss_counts_only_non_prefix_patches():
    patches = torch.rand(1, 16, 48)
    pred = torch.zeros(1, 16, 48)
    target = torch.arange(16)[None] >= 10
    base = image_loss(pred, patches, target)
    pred_prefix_wrong = pred.clone()
    pred_prefix_wrong[:, :9] = 100.0  # predictions of prefix patches 1..9
    assert torch.equal(image_loss(pred_prefix_wrong, patches, target), base)
    pred_good = pred.clone()
    pred_good[:, 9:15] = normalised_patches(patches[:, 10:])
    assert float(image_loss(pred_good, patches, target)) < 1e-9
    expected = normalised_patches(patches[:, 10:]).pow(2).mean()
    assert torch.allclose(base, expected)


def test_forward_losses_and_alpha():
    model = tiny()
    out = model(batch([3, 8]))
    assert set(out.losses) == {"rgb", "caption"} and out.loss.ndim == 0
    assert torch.allclose(out.loss, out.losses["caption"] + out.losses["rgb"])
    halved = tiny(alpha=0.5)(batch([3, 8]))
    assert torch.allclose(halved.loss, halved.losses["caption"] + 0.5 * halved.losses["rgb"])
    image_only = tiny(text=None)(batch([3, 8]))
    assert set(image_only.losses) == {"rgb"}


def test_text_is_predicted_causally():
    model = tiny()
    a, b = batch([4, 4]), batch([4, 4])
    b["caption"].inputs[:, -1] = (b["caption"].inputs[:, -1] + 1) % 50  # the last token changes
    b["caption"].input_mask[:, -1] = False  # …and is not scored: earlier logits must be unchanged
    a["caption"].input_mask[:, -1] = False
    assert torch.allclose(model(a).losses["caption"], model(b).losses["caption"], atol=1e-6)


def test_features_shape_and_highres_no_decay():
    model = tiny()
    feats = model.encode_features(torch.randint(0, 255, (3, 16, 16, 3), dtype=torch.uint8))
    assert feats.shape == (3, 16, 32)
    assert model.no_weight_decay() == []
    assert set(tiny(highres_adaptation=True).no_weight_decay()) == {n for n, _ in model.named_parameters()}


def test_config_presets_and_errors():
    assert AIMv2Config(preset="base").dim == 768
    assert AIMv2Config(preset="base", depth=3).depth == 3
    with pytest.raises(ValueError, match="divisible"):
        AIMv2Config(dim=30, num_heads=4)
    from fourm_aimv2.data import check
    from fourm_registry import FourmError, Registry

    specs = Registry.build(allow=[]).select(["rgb"])
    with pytest.raises(ValueError, match="sigma"):
        AIMv2Config(native_resolution={"sigma": 0})
    with pytest.raises(FourmError, match="add \\['caption'\\]"):
        check(None, specs, AIMv2Config())
