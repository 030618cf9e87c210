"""``fourm generate`` on a tiny checkpoint saved with save_pretrained: files, pictures, bad input."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from fourm_cli.app import build_app
from fourm_registry import Registry
from fourm_registry.batch import ModalityBatch
from fourm_registry.model import FourM, build_model
from fourm_registry.tokenizers import TextTokenizer
from fourm_registry.tokens import EOS_ID, sentinel_id

from ._torch_threads import one_torch_thread  # noqa: F401  (autouse)

SMALL = {n: {"image_size": 32, "patch_size": 8, "vocab_size": 64} for n in ("rgb", "depth", "normal", "semseg")}
SMALL |= {"caption": {"max_length": 16, "vocab_size": 4400}, "det": {"max_length": 24, "vocab_size": 4400}}
MODALITIES = ["rgb", "depth", "normal", "semseg", "caption", "det"]
GRIDS = ["depth", "normal", "semseg"]




@pytest.fixture(scope="module")
def reg() -> Registry:
    return Registry.build(allow=[]).with_overrides(SMALL)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory, reg) -> Path:
    """Tiny random tokenizers + a tiny FourM trained a few steps, saved like a real export."""
    root = tmp_path_factory.mktemp("ckpt")
    for name in ("rgb", "depth", "normal", "semseg"):
        spec = reg.get_modality(name)
        tok = spec.tokenizer.factory.fresh(spec, channels=[16] * 4, norm_num_groups=8, code_dim=8)
        tok.save_pretrained(root / "tokenizers" / name)
    text = TextTokenizer.train(["a red cube on a table", "a blue sphere"] * 4, vocab_size=4300,
                               extra_tokens=reg.get_modality("det").extras["text_tokens"], min_frequency=1)
    text.save_pretrained(root / "tokenizers" / "text")
    torch.manual_seed(0)
    model = build_model({"dim": 32, "encoder_depth": 1, "decoder_depth": 1, "num_heads": 2}, reg, MODALITIES)
    opt = torch.optim.AdamW(model.parameters(), lr=1e-3)
    cap = torch.tensor([[sentinel_id(1), *text.encode("a red cube"), EOS_ID, sentinel_id(2)]] * 2)
    for _ in range(3):
        grid = torch.randint(0, 64, (2, 16))
        batch = {"rgb": ModalityBatch(grid, torch.ones(2, 16, dtype=torch.bool)),
                 "depth": ModalityBatch(grid, torch.zeros(2, 16, dtype=torch.bool), grid,
                                        torch.ones(2, 16, dtype=torch.bool)),
                 "caption": ModalityBatch(torch.zeros(2, 1, dtype=torch.long), torch.zeros(2, 1, dtype=torch.bool),
                                          cap, torch.ones_like(cap, dtype=torch.bool))}
        loss = model(batch).loss
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.save_pretrained(root)
    return root


@pytest.fixture(scope="module")
def photo(tmp_path_factory) -> Path:
    p = tmp_path_factory.mktemp("in") / "img.jpg"
    Image.fromarray((np.random.default_rng(0).random((40, 56, 3)) * 255).astype(np.uint8)).save(p)
    return p


def run(reg, runner, *args):
    return runner.invoke(build_app(reg), ["generate", *map(str, args)])


def test_generate_writes_every_promised_file(reg, runner, ckpt, photo, tmp_path):
    out = tmp_path / "out"
    r = run(reg, runner, "--checkpoint", ckpt, "--cond", f"rgb={photo}", "--cond", "caption=a red cube",
            "--target", "depth,normal,semseg,det,caption", "--out", out, "--steps", 4, "--samples", 2)
    assert r.exit_code == 0, r.output
    meta = json.loads((out / "generation.json").read_text())
    assert [s["target"] for s in meta["steps"]] == ["depth", "normal", "semseg", "det", "caption"]
    for i in range(2):
        d = out / f"sample_{i:03d}"
        for name in [*GRIDS, "det", "caption"]:
            with Image.open(d / f"{name}.png") as img:
                img.load()
                assert img.mode == "RGB" and min(img.size) >= 32
            tok = np.load(d / f"tok_{name}.npy")
            assert tok.dtype.kind == "i"
        for name in GRIDS:
            assert np.load(d / f"tok_{name}.npy").shape == (4, 4)
        with Image.open(d / "depth.png") as img:
            assert img.size == (32, 32)  # the depth tokenizer decodes 4×4 tokens to 32×32
        with Image.open(d / "det.png") as img:
            assert img.size == (224, 224)  # boxes drawn on the (enlarged) input photo
        with Image.open(d / "grid.png") as img:
            assert img.height == 224 + 16 and img.width > 7 * 224  # 2 inputs + 5 outputs
        seqs = json.loads((d / "sequences.json").read_text())
        assert set(seqs) == {"det", "caption"} and (d / "caption.txt").read_text().strip() == seqs["caption"]["text"]
        assert len(np.load(d / "tok_caption.npy")) == len(seqs["caption"]["ids"]) <= 15
    assert not any(p.name.startswith(".") for p in tmp_path.iterdir())  # no staging dir left


def test_token_inputs_inpainting_and_greedy_is_deterministic(reg, runner, ckpt, tmp_path):
    ids = np.random.default_rng(1).integers(0, 64, (4, 4))
    ids[1:3, 1:3] = -1  # cells to generate
    np.save(tmp_path / "rgb.npy", ids)
    outs = []
    for k in range(2):
        out = tmp_path / f"o{k}"
        r = run(reg, runner, "--checkpoint", ckpt, "--cond", f"tok_rgb={tmp_path / 'rgb.npy'}",
                "--target", "rgb,caption", "--temperature", 0, "--seed", k, "--out", out)
        assert r.exit_code == 0, r.output
        outs.append(out / "sample_000")
    got = np.load(outs[0] / "tok_rgb.npy")
    keep = ids >= 0
    assert np.array_equal(got[keep], ids[keep]) and got.min() >= 0
    for name in ("tok_rgb.npy", "tok_caption.npy"):  # greedy: the seed does not matter
        assert np.array_equal(np.load(outs[0] / name), np.load(outs[1] / name))


def test_same_seed_same_output(reg, runner, ckpt, photo, tmp_path):
    args = ["--checkpoint", ckpt, "--cond", f"rgb={photo}", "--schedule", "depth:scheme=roar,steps=4->caption",
            "--seed", 3]
    for k in range(2):
        assert run(reg, runner, *args, "--out", tmp_path / f"o{k}").exit_code == 0
    for name in ("tok_depth.npy", "tok_caption.npy"):
        assert np.array_equal(np.load(tmp_path / "o0/sample_000" / name), np.load(tmp_path / "o1/sample_000" / name))


@pytest.mark.parametrize("args,msg", [
    (["--target", "colour"], "Unknown modality 'colour'"),
    (["--target", "clip"], "never learned to predict it"),
    (["--target", "depth", "--schedule", "depth:tokens=999"], "asks for 999 tokens but only 16"),
    (["--target", "depth", "--steps", 17], "17 steps to fill 16 tokens"),
    (["--target", "depth", "--cond", "rgb=BROKEN"], "cannot read"),
    (["--target", "depth", "--cond", "rgb=missing.jpg"], "does not exist"),
    (["--target", "depth", "--mask", "rgb=box:0,0,0.5,0.5"], "give the modality with --cond rgb"),
    ([], "--target"),
])
def test_bad_input_fails_before_compute_and_writes_nothing(reg, runner, ckpt, tmp_path, monkeypatch, args, msg):
    def no_model(*a, **k):
        raise AssertionError("the model must not be loaded for bad input")

    monkeypatch.setattr(FourM, "from_pretrained", no_model)
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"not an image")
    args = [str(a).replace("BROKEN", str(broken)) for a in args]
    out = tmp_path / "out"
    r = run(reg, runner, "--checkpoint", ckpt, "--out", out, *args)
    assert r.exit_code == 1 and msg in r.output, r.output
    assert not out.exists() and sorted(p.name for p in tmp_path.iterdir()) == ["broken.jpg"]


def test_refuses_to_clobber_output(reg, runner, ckpt, photo, tmp_path):
    (tmp_path / "out").mkdir()
    (tmp_path / "out" / "keep.txt").write_text("mine")
    r = run(reg, runner, "--checkpoint", ckpt, "--cond", f"rgb={photo}", "--target", "depth", "--out", tmp_path / "out")
    assert r.exit_code == 1 and "--overwrite" in r.output
    assert (tmp_path / "out" / "keep.txt").read_text() == "mine"
