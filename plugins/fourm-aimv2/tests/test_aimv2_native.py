"""Native-resolution batches: n stays in [-1, 1], A·B stays constant (up to rounding B), batches are
reproducible and resume exactly, and a tiny AIMv2 run trains with them through the trainer."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from _aimv2_shards import SETTINGS, write_config, write_shards
from fourm_aimv2.data import AIMv2Data
from fourm_aimv2.model import unpatchify
from fourm_aimv2.native import NativeResolutionLoader, draw, patchify, resize_patches, step_rng
from fourm_registry import Registry
from fourm_registry.config import load_config
from fourm_registry.training import TrainConfig, Trainer
from fourm_registry.training.build import resolve_modalities, run_family

torch.set_num_threads(1)
NATIVE = {"sigma": 0.5}


@pytest.fixture(scope="module")
def registry():
    return Registry.build(allow=["aimv2"])


@pytest.fixture(scope="module")
def shards(tmp_path_factory, registry):
    return write_shards(tmp_path_factory.mktemp("native_shards"), registry.with_overrides(SETTINGS))


def run_config(tmp_path, shards, steps: int = 12, **extra: object) -> TrainConfig:
    sets = [f"data.shards={shards['train']}", f"data.val_shards={shards['val']}", f"out_dir={tmp_path / 'run'}",
            f"train.max_steps={steps}", "logging.progress=false", "train.device=cpu", "train.deterministic=true",
            "eval.num_batches=2", "optim.lr=3e-3", f"eval.every={steps}", f"checkpoint.every={steps}"]
    return load_config(TrainConfig, write_config(tmp_path / "native.yaml", native_resolution=NATIVE, **extra), sets)


def test_draws_keep_area_times_batch_constant():
    grid0, patch = SETTINGS["rgb"]["image_size"] // SETTINGS["rgb"]["patch_size"], SETTINGS["rgb"]["patch_size"]
    for base_batch in (8, 64):
        draws = [draw(step_rng(0, 0, k), grid0, base_batch, NATIVE["sigma"]) for k in range(2000)]
        ns = np.array([d.n for d in draws])
        assert ns.min() >= -1.0 and ns.max() <= 1.0
        assert abs(ns.mean()) < 0.05 and 0.3 < ns.std() < NATIVE["sigma"]  # truncation narrows the spread
        base = (grid0 * patch) ** 2 * base_batch
        for d in draws:  # pixels per batch = A0·B0, up to rounding B to a whole sample
            assert abs(d.area(patch) * d.batch - base) <= d.area(patch) / 2 + 1e-9, d
            target = 2.0 ** d.n * (grid0 * patch) ** 2  # the grid is the closest one to 2^n·A0 in side
            assert abs(d.grid * patch - target ** 0.5) <= patch / 2 + 1e-9, d
        assert len({d.grid for d in draws}) >= 3  # several resolutions, not one


def test_resize_keeps_the_image():
    patch = SETTINGS["rgb"]["patch_size"]
    grid0 = SETTINGS["rgb"]["image_size"] // patch
    images = torch.rand(2, 3, grid0 * patch, grid0 * patch)
    patches = patchify(images, patch)
    assert torch.equal(unpatchify(patches, patch), images)  # patchify is unpatchify's inverse
    flat = torch.full((1, grid0 * grid0, patch * patch * 3), 0.25)
    out = resize_patches(flat, patch, grid0 + 2)
    assert out.shape == (1, (grid0 + 2) ** 2, patch * patch * 3)
    assert torch.allclose(out, torch.full_like(out, 0.25), atol=1e-5)


def test_loader_batches_follow_the_draws_and_resume_exactly(tmp_path, shards, registry):
    cfg = run_config(tmp_path, shards)
    reg, specs = resolve_modalities(cfg.modalities, registry)
    _, model_cfg = run_family(cfg, reg, specs)
    data = AIMv2Data(cfg, reg, specs, model_cfg)
    loader = data.train(rank=0, world_size=1, seed=0)
    assert isinstance(loader, NativeResolutionLoader)
    it = iter(loader)
    for step in range(4):
        batch, (d, _) = next(it), loader.draw(step)
        img = batch["rgb"]
        assert img.inputs.shape[:2] == (d.batch, d.grid ** 2) and batch["caption"].inputs.shape[0] == d.batch
        prefix = d.grid ** 2 - img.target_mask.sum(1)
        assert (prefix >= 1).all() and (prefix <= d.grid ** 2 - 1).all()
        assert not img.target_mask[torch.arange(d.batch), prefix - 1].any()  # the prefix is not a target
    state = loader.state_dict()
    after = [next(it) for _ in range(3)]
    again = data.train(rank=0, world_size=1, seed=0)
    again.load_state_dict(state)
    for a, b in zip(after, iter(again)):
        for name in a:
            assert torch.equal(a[name].inputs, b[name].inputs) and torch.equal(a[name].input_mask, b[name].input_mask)
            if a[name].target_mask is not None:
                assert torch.equal(a[name].target_mask, b[name].target_mask)
    held = data.held_out(rank=0, world_size=1, seed=0)
    grid0 = SETTINGS["rgb"]["image_size"] // SETTINGS["rgb"]["patch_size"]
    assert next(iter(held))["rgb"].inputs.shape[:2] == (cfg.eval.batch_size or cfg.train.batch_size, grid0 ** 2)


@pytest.mark.slow
def test_tiny_run_trains_with_native_resolution(tmp_path, shards, registry):
    from transformers import Aimv2VisionModel

    from fourm_aimv2 import AIMv2

    trainer = Trainer(run_config(tmp_path, shards, steps=24), registry)
    result = trainer.fit()
    first, last = result.evals[0], result.evals[-1]
    print(f"AIMV2_NATIVE first={first} last={last}")
    assert result.state.nonfinite_total == 0 and last["step"] == 24
    assert last["loss/rgb"] < first["loss/rgb"], (first, last)
    model = AIMv2.from_pretrained(result.export_dir)
    assert model.encoder.config.is_native
    model.encoder.save_pretrained(tmp_path / "hf")
    hf = Aimv2VisionModel.from_pretrained(tmp_path / "hf").eval()
    images = torch.rand(2, 3, 24, 24)  # a resolution it never saw as its base: sin-cos positions take it
    with torch.no_grad():
        assert torch.allclose(model.encoder.encode_features(model.pixel_values(images)),
                              hf(pixel_values=model.pixel_values(images)).last_hidden_state, atol=1e-5)
