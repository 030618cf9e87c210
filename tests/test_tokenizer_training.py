"""Training a tiny VQ-VAE: the loss falls, dead-code replacement widens codebook use; DiVAE sampling."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from fourm_registry.tokenizers.data import dense_batches, tensor_batches
from fourm_registry.tokenizers.training import TrainSettings, train_dense_tokenizer

from ._torch_threads import one_torch_thread  # noqa: F401  (autouse)

LOSS_FACTOR = 1.6  # held-out reconstruction MSE must fall at least this much in 200 steps (seen: 2.17)
USAGE_MARGIN = 0.15  # replacement must use ≥ 15 points more of the codebook (seen: 94.5 % vs 5.5 %)


def palette_images(n: int, seed: int, size: int = 32, cell: int = 8) -> np.ndarray:
    """Images of 8×8 cells, each one of 16 fixed colours: a small vocabulary can represent them."""
    palette = np.random.default_rng(123).integers(0, 256, (16, 3))
    idx = np.random.default_rng(seed).integers(0, 16, (n, size // cell, size // cell))
    return palette[idx].repeat(cell, axis=1).repeat(cell, axis=2).astype(np.uint8)


def _tiny_rgb(registry, vocab: int, **model):
    spec = registry.get_modality("rgb").with_overrides(image_size=32, patch_size=8, vocab_size=vocab)
    return spec.tokenizer.factory.fresh(spec, channels=[16, 32, 32, 32], norm_num_groups=8, **model)


def _recon_mse(tok, x: torch.Tensor) -> float:
    with torch.no_grad():
        return float(torch.nn.functional.mse_loss(tok.model.decode(tok.model.encode(x)), x))


def _usage(tok, images: np.ndarray) -> float:
    codes = np.concatenate([t.ravel() for t in tok.encode(list(images))])
    return len(np.unique(codes)) / tok.vocab_size


@pytest.mark.slow
def test_tiny_vqvae_learns_and_dead_code_replacement_uses_more_codes(registry) -> None:
    train, held_out = palette_images(512, seed=0), palette_images(64, seed=1)
    settings = TrainSettings(steps=200, batch_size=16, lr=5e-4, warmup_steps=25, log_every=25)
    results = {}
    for replace in (True, False):
        torch.manual_seed(0)
        tok = _tiny_rgb(registry, vocab=128, replace_dead_codes=replace)
        x = np.stack([tok.prepare(v) for v in train])
        x_eval = torch.from_numpy(np.stack([tok.prepare(v) for v in held_out]))
        before = _recon_mse(tok, x_eval)
        history = train_dense_tokenizer(tok, tensor_batches(x, 16), settings, progress=False)
        results[replace] = (before, _recon_mse(tok, x_eval), _usage(tok, train), history)
    before, after, usage_on, history = results[True]
    assert before / after >= LOSS_FACTOR, (before, after)
    assert [r["step"] for r in history] == [25, 50, 75, 100, 125, 150, 175, 200]
    assert all(0 < r["codebook_usage"] <= 1 for r in history)
    usage_off = results[False][2]
    assert usage_on >= usage_off + USAGE_MARGIN, (usage_on, usage_off)


def test_training_writes_checkpoint_pictures_and_metrics(registry, tmp_path: Path) -> None:
    from fourm_registry.shards import AtomicShardWriter, ReadStats

    with AtomicShardWriter(tmp_path / "shards" / "s-000.tar", registry) as w:
        for i, img in enumerate(palette_images(6, seed=2, size=40)):
            w.write({"__key__": f"k{i}", "rgb": img})
        w.write({"__key__": "odd", "rgb": np.zeros((33, 40, 3), np.uint8)})  # crops to 32 anyway
    tok = _tiny_rgb(registry, vocab=32)
    stats = ReadStats()
    batches = dense_batches(tok, str(tmp_path / "shards"), registry, 4, 32, stats=stats, buffer=4)
    assert next(batches).shape == (4, 3, 32, 32)
    out = tmp_path / "tok"
    settings = TrainSettings(steps=4, batch_size=4, log_every=2, sample_every=2, save_every=4)
    history = train_dense_tokenizer(tok, batches, settings, out, progress=False)
    assert len(history) == 2 and np.isfinite(history[-1]["loss"])
    assert (out / "config.json").is_file() and (out / "model.safetensors").is_file()
    assert sorted(p.name for p in (out / "recon").iterdir()) == ["step_0000002.png", "step_0000004.png"]
    assert len((out / "metrics.jsonl").read_text().splitlines()) == 2
    from PIL import Image

    assert Image.open(out / "recon" / "step_0000004.png").size == (4 * 32, 2 * 32)


def test_divae_trains_and_samples_with_25_ddim_steps(registry, tmp_path: Path) -> None:
    tok = _tiny_rgb(registry, vocab=32, decoder="diffusion", unet_channels=[16, 32])
    x = np.stack([tok.prepare(v) for v in palette_images(8, seed=3)])
    history = train_dense_tokenizer(tok, tensor_batches(x, 4), TrainSettings(steps=2, log_every=1),
                                    progress=False)
    assert all(np.isfinite(r["loss"]) for r in history)
    unet = tok.model.decoder.unet
    assert unet.config.in_channels == 3 + tok.config.cond_channels
    assert tok.model.decoder.train_scheduler.config.num_train_timesteps == 1000
    calls = []
    handle = unet.register_forward_hook(lambda *_: calls.append(1))
    tokens = tok.encode(list(palette_images(2, seed=4)))
    images = tok.decode(tokens, generator=torch.Generator().manual_seed(0))
    handle.remove()
    assert len(calls) == 25  # one UNet call per DDIM step, batched over both images
    assert [im.shape for im in images] == [(32, 32, 3), (32, 32, 3)] and images[0].dtype == np.uint8
    tok.save_pretrained(tmp_path / "rgb")
    loaded = registry.get_modality("rgb").create_tokenizer(tmp_path / "rgb")
    assert loaded.config.decoder == "diffusion"
    again = loaded.decode(tokens, generator=torch.Generator().manual_seed(0))
    assert np.array_equal(again[0], images[0])  # same weights, same noise → same sample


def test_autocast_training_runs_the_convolutions_in_bf16_and_the_quantiser_in_fp32(registry) -> None:
    """``TrainSettings(autocast=True)``: the encoder's output is bf16, yet the codes are those
    an fp32 quantiser picks (a bf16 similarity could flip near ties) and the weights stay fp32."""
    tok = _tiny_rgb(registry, vocab=32)
    q = tok.model.quantizer.eval()
    z = torch.randn(4, q.dim, 4, 4)
    plain = q(z)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        z_q, idx, loss = q(z.bfloat16())
    assert torch.equal(idx, q(z.bfloat16().float())[1]) and loss.dtype == torch.float32
    assert z_q.dtype == torch.bfloat16 and plain[0].dtype == torch.float32
    seen: list[torch.dtype] = []
    handle = tok.model.encoder.register_forward_hook(lambda _m, _i, out: seen.append(out.dtype))
    x = np.stack([tok.prepare(v) for v in palette_images(8, seed=5)])
    history = train_dense_tokenizer(tok, tensor_batches(x, 4), TrainSettings(steps=3, log_every=1, autocast=True),
                                    progress=False)
    handle.remove()
    assert seen[:3] == [torch.bfloat16] * 3
    assert all(np.isfinite(r["loss"]) for r in history)
    assert {p.dtype for p in tok.model.parameters()} == {torch.float32}
