"""Photo → released-layout RGB tokenizer → released-layout 4M model → depth tokens → released-layout
depth tokenizer → depth map, all through ``fourm generate`` with no fourm-specific file in between.

The 4M model is the ``fm-small`` fixture (ml-4m's own code wrote it); the tokenizers are tiny
random DiVAEs written in the released layout, sized from the model's domains and vocabularies.
"""
from __future__ import annotations

import json
import os
import re
from pathlib import Path

import numpy as np
import pytest
from fourm_cli.app import build_app
from PIL import Image
from safetensors import safe_open

from fourm_registry.interop.ml4m.tokenizers import load_released_tokenizer

from ._released_tok import write_tiny
from ._torch_threads import one_torch_thread  # noqa: F401  (autouse)

ML4M = Path(os.environ.get("FOURM_ML4M_FIXTURES", Path(__file__).parent / "fixtures" / "ml4m"))
MODEL = ML4M / "fm-small"


def _domain(config: dict, prefix: str) -> tuple[str, int]:
    for d in config["domains_out"]:
        m = re.fullmatch(rf"{prefix}@(\d+)", d)
        if m:
            return d, int(m.group(1))
    pytest.fail(f"{MODEL} has no {prefix}@<size> output domain")


@pytest.mark.slow
def test_photo_to_depth_map_with_released_files(tmp_path, registry, runner):
    config = json.loads((MODEL / "config.json").read_text())
    (rgb_d, size), (depth_d, _) = _domain(config, "tok_rgb"), _domain(config, "tok_depth")
    with safe_open(str(MODEL / "model.safetensors"), framework="pt") as f:
        vocab = {d: f.get_slice(f"decoder_embeddings.{d}.to_logits.weight").get_shape()[0] for d in (rgb_d, depth_d)}
        grid = int(np.sqrt(f.get_slice(f"encoder_embeddings.{rgb_d}.pos_emb").get_shape()[1]))
    patch = size // grid
    rgb_tok = write_tiny(tmp_path / "4M_tokenizers_rgb", "divae", image=size, patch=patch, codebook=vocab[rgb_d])
    depth_tok = write_tiny(tmp_path / "4M_tokenizers_depth", "divae", n_channels=1, image=size, patch=patch,
                           codebook=vocab[depth_d], seed=1)
    photo = tmp_path / "photo.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 256, (size, size, 3), dtype=np.uint8)).save(photo)
    out = tmp_path / "out"
    r = runner.invoke(build_app(registry), [
        "generate", "--checkpoint", str(MODEL), "--cond", f"rgb={photo}", "--target", "depth",
        "--tokenizer", f"rgb={rgb_tok}", "--tokenizer", f"depth={depth_tok}", "--out", str(out), "--steps", "2"])
    assert r.exit_code == 0, r.output
    [sample] = sorted(out.glob("sample_*"))
    tokens = np.load(sample / "tok_depth.npy")
    assert tokens.shape == (grid, grid) and tokens.min() >= 0 and tokens.max() < vocab[depth_d]
    depth_png = Image.open(sample / "depth.png")
    assert depth_png.size == (size, size)
    assert np.asarray(depth_png).std() > 0  # a decoded map, not a blank
    assert load_released_tokenizer(depth_tok).arch.kind == "divae"
