"""A tiny CM3 model trained by ``fourm train``'s trainer (DeepSpeed engine): the held-out loss falls,
the export loads and decodes mixed-modal."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import yaml

from fourm_cm3 import CM3
from fourm_cm3.decode import generate_mixed
from fourm_registry import Registry
from fourm_registry.config import load_config
from fourm_registry.shards import AtomicShardWriter
from fourm_registry.training import TrainConfig, Trainer

pytestmark = pytest.mark.slow
EXAMPLE = Path(__file__).resolve().parents[3] / "configs" / "train_tiny.yaml"
SETTINGS = {"rgb": {"image_size": 16, "patch_size": 4, "vocab_size": 16},
            "caption": {"max_length": 8, "vocab_size": 260}}


def sample(rng: np.random.Generator, key: str) -> dict:
    """A caption word names the colour; the 4×4 rgb grid is that colour's code with a little noise."""
    colour = int(rng.integers(0, 4))
    grid = np.full((4, 4), colour * 4, dtype=np.int16)
    grid[rng.random((4, 4)) < 0.2] = int(rng.integers(0, 16))
    caption = np.array([210 + colour, 230 + int(rng.integers(0, 3))], dtype=np.int16)
    return {"__key__": key, "tok_rgb": grid, "tok_caption": caption}


def shards(root: Path, registry) -> dict:
    rng = np.random.default_rng(0)
    root.mkdir(parents=True, exist_ok=True)
    for name, n in (("train-0.tar", 96), ("val-0.tar", 24)):
        with AtomicShardWriter(root / name, registry) as w:
            for i in range(n):
                w.write(sample(rng, f"{name[:1]}{i:04d}"))
    return {"train": str(root / "train-0.tar"), "val": str(root / "val-0.tar")}


def train(tmp_path: Path, registry, data: dict, model: dict, steps: int, init: Path | None = None) -> tuple:
    """``fourm train``'s trainer on caption + rgb with the example config, this ``model`` section and ``steps``."""
    raw = yaml.safe_load(EXAMPLE.read_text())
    raw["model"] = model
    raw["modalities"] = {"inputs": ["caption", "rgb"], "targets": ["caption", "rgb"], "settings": SETTINGS}
    raw.pop("masking", None)
    if init is not None:
        raw["init"] = str(init)
    (tmp_path / "run.yaml").write_text(yaml.safe_dump(raw))
    sets = [f"data.shards={data['train']}", f"data.val_shards={data['val']}", f"out_dir={tmp_path / 'run'}",
            f"train.max_steps={steps}", "logging.progress=false", "train.device=cpu", f"eval.every={steps}",
            "eval.num_batches=2", f"checkpoint.every={steps}", "optim.lr=5e-3", "optim.total_tokens=1M"]
    trainer = Trainer(load_config(TrainConfig, str(tmp_path / "run.yaml"), sets), registry)
    return trainer, trainer.fit()


def test_loss_falls_under_fourm_train(tmp_path):
    registry = Registry.build(allow=["cm3"])
    data = shards(tmp_path / "shards", registry.with_overrides(SETTINGS))
    trainer, result = train(tmp_path, registry, data,
                            {"family": "cm3", "dim": 32, "depth": 2, "num_heads": 2, "mask_prob": 0.5}, 40)
    assert trainer.family.name == "cm3" and isinstance(trainer.engine.module, CM3)
    first, last = result.evals[0], result.evals[-1]
    assert last["step"] == 40 and result.state.nonfinite_total == 0
    for name in ("loss/caption", "loss/rgb"):
        assert last[name] < first[name] * 0.7, (name, first, last)
    model = CM3.from_pretrained(result.export_dir)
    out = generate_mixed(model, [211], "caption", "rgb", cfg_scale=2.0)
    assert [n for n, _ in out.segments] == ["caption", "rgb", "caption"] and len(out.segments[1][1]) == 16


def test_cross_merge_continues_under_fourm_train(tmp_path):
    """JAM's recipe: a text-only and an image-text parent, cross-merged, then trained on both with --init."""
    import json

    import torch

    from fourm_cm3 import CM3Cross
    from fourm_registry.merging import merge

    registry = Registry.build(allow=["cm3"])
    reg = registry.with_overrides(SETTINGS)
    data = shards(tmp_path / "shards", reg)
    spec = registry.get_family("cm3")
    parents = []
    for name, mods in (("text", ["caption"]), ("image_text", ["caption", "rgb"])):
        torch.manual_seed(len(parents))
        cfg = spec.validate_model({"dim": 32, "depth": 2, "num_heads": 2, "vocab": ["caption", "rgb"]})
        parents.append(spec.build(cfg, reg, reg.select(mods)).save_pretrained(tmp_path / name))
    _, fused = merge(*parents, "cross", tmp_path / "fused", registry=reg, echo=lambda m: None)
    exported = json.loads((fused / "config.json").read_text())
    assert exported["family"] == "cm3-cross"
    trainer, result = train(tmp_path, registry, data, {"family": "cm3-cross", **exported["model"]}, 30, init=fused)
    assert isinstance(trainer.engine.module, CM3Cross) and not trainer.fresh_params
    first, last = result.evals[0], result.evals[-1]
    assert last["loss"] < first["loss"] * 0.8, (first, last)
    model = CM3Cross.from_pretrained(result.export_dir)
    assert any(f.a_from_b.proj.weight.any() for f in model.fusion.values())  # the fusion layers learned
