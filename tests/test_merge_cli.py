"""``fourm merge`` from the command line: plan before writing, the result generates and initialises training."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fourm_cli.app import build_app
from fourm_registry import Registry
from fourm_registry.model import build_model
from fourm_registry.tokenizers import TextTokenizer

from ._torch_threads import one_torch_thread  # noqa: F401  (autouse)

SMALL = {n: {"image_size": 32, "patch_size": 8, "vocab_size": 64} for n in ("rgb", "depth", "semseg")}
SMALL |= {"caption": {"max_length": 16, "vocab_size": 4500}}  # room above the text tokenizer's ids
CFG = {"dim": 32, "encoder_depth": 1, "decoder_depth": 1, "num_heads": 2}


@pytest.fixture(scope="module")
def reg() -> Registry:
    return Registry.build(allow=[]).with_overrides(SMALL)


@pytest.fixture(scope="module")
def setup(tmp_path_factory, reg) -> tuple[Path, Path, Path]:
    """Random tokenizers and two parents: A on rgb/depth/caption, B on rgb/semseg/caption."""
    root = tmp_path_factory.mktemp("merge_cli")
    for name in ("rgb", "depth", "semseg"):
        spec = reg.get_modality(name)
        tok = spec.tokenizer.factory.fresh(spec, channels=[16] * 4, norm_num_groups=8, code_dim=8)
        tok.save_pretrained(root / "tokenizers" / name)
    text = TextTokenizer.train(["a red cube on a table", "a blue sphere"] * 4, vocab_size=4300,
                               extra_tokens=reg.get_modality("det").extras["text_tokens"], min_frequency=1)
    text.save_pretrained(root / "tokenizers" / "text")
    for seed, mods in ((1, ["rgb", "depth", "caption"]), (2, ["rgb", "semseg", "caption"])):
        torch.manual_seed(seed)
        build_model(CFG, reg, mods).save_pretrained(root / f"p{seed}")
    return root / "p1", root / "p2", root / "tokenizers"


@pytest.mark.parametrize("method", ["uniform", "width"])
def test_merge_then_generate(reg, runner, setup, tmp_path, method):
    a, b, toks = setup
    out = tmp_path / "merged"
    r = runner.invoke(build_app(reg), ["merge", str(a), str(b), "--method", method, "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert r.output.index("Merge plan") < r.output.index("Wrote")
    assert "parameters" in r.output and (out / "model.safetensors").is_file()
    photo = tmp_path / "img.png"
    Image.fromarray((np.random.default_rng(0).random((32, 32, 3)) * 255).astype(np.uint8)).save(photo)
    gen = tmp_path / "gen"
    r = runner.invoke(build_app(reg), ["generate", "--checkpoint", str(out), "--tokenizers", str(toks),
                                       "--cond", f"rgb={photo}", "--target", "depth,semseg,caption",
                                       "--out", str(gen), "--steps", "2"])
    assert r.exit_code == 0, r.output
    for name in ("depth", "semseg"):
        assert np.load(gen / "sample_000" / f"tok_{name}.npy").shape == (4, 4)
    # what `fourm train --init` does with it: build from the exported architecture, load every weight
    from fourm_registry.training.build import load_initial_weights, read_exported_config

    exported = read_exported_config(out)
    model = build_model(exported["model"], reg, list(exported["modalities"]))
    assert load_initial_weights(model, out, set()) == []


def test_dry_run_prints_every_tensor_and_writes_nothing(reg, runner, setup, tmp_path):
    a, b, _ = setup
    out = tmp_path / "dry"
    r = runner.invoke(build_app(reg), ["merge", str(a), str(b), "--method", "uniform", "--out", str(out),
                                       "--dry-run", "--detail"])
    assert r.exit_code == 0, r.output
    assert "copied from B" in r.output and "decoder_embeddings.semseg.to_logits.weight" in r.output
    assert "Dry run" in r.output and not out.exists()


def test_merge_error_is_one_line_and_writes_nothing(reg, runner, setup, tmp_path):
    a, _, _ = setup
    out = tmp_path / "never"
    r = runner.invoke(build_app(reg), ["merge", str(a), str(tmp_path), "--method", "uniform", "--out", str(out)])
    assert r.exit_code == 1 and r.output.strip().count("\n") == 0 and "Error:" in r.output
    assert not out.exists()


def test_cross_merge_generates(reg, runner, setup, tmp_path):
    a, b, toks = setup
    out = tmp_path / "cross"
    r = runner.invoke(build_app(reg), ["merge", str(a), str(b), "--method", "cross", "--every", "1", "--out", str(out)])
    assert r.exit_code == 0, r.output
    assert "new" in r.output and "fusion" in r.output
    photo = tmp_path / "img.png"
    Image.fromarray((np.random.default_rng(1).random((32, 32, 3)) * 255).astype(np.uint8)).save(photo)
    r = runner.invoke(build_app(reg), ["generate", "--checkpoint", str(out), "--tokenizers", str(toks),
                                       "--cond", f"rgb={photo}", "--target", "depth,semseg,caption",
                                       "--out", str(tmp_path / "gen"), "--steps", "2"])
    assert r.exit_code == 0, r.output
    assert np.load(tmp_path / "gen" / "sample_000" / "tok_semseg.npy").shape == (4, 4)
    assert (tmp_path / "gen" / "sample_000" / "caption.txt").is_file()
