"""Interop with transformers' Aimv2VisionModel, both directions, with tiny random configs saved locally."""
from __future__ import annotations

import json

import pytest
import torch
from transformers import Aimv2VisionConfig, Aimv2VisionModel

from fourm_aimv2 import AIMv2, AIMv2Config, AIMv2Encoder
from fourm_registry import FourmError, Registry
from fourm_registry.families.export import convert_export, export_targets

torch.set_num_threads(1)


def hf_model(use_head: bool, seed: int = 0) -> Aimv2VisionModel:
    torch.manual_seed(seed)
    cfg = Aimv2VisionConfig(hidden_size=32, intermediate_size=88, num_hidden_layers=2, num_attention_heads=4,
                            image_size=16, patch_size=4, use_head=use_head)
    return Aimv2VisionModel(cfg).eval()


@pytest.mark.parametrize("use_head", [False, True])
def test_from_pretrained_matches_last_hidden_state(tmp_path, use_head):
    ref = hf_model(use_head)
    ref.save_pretrained(tmp_path / "hf")
    enc = AIMv2Encoder.from_pretrained(tmp_path / "hf").eval()
    x = torch.randn(3, 3, 16, 16)
    with torch.no_grad():
        expected = ref(pixel_values=x).last_hidden_state
        got = enc.encode_features(x)
    assert got.shape == (3, 16, 32)
    assert (got - expected).abs().max() < 1e-5


def test_fourm_encoder_exports_to_transformers(tmp_path):
    torch.manual_seed(1)
    model = AIMv2(AIMv2Config(dim=32, depth=2, num_heads=4, decoder_dim=32, decoder_depth=1, decoder_heads=4),
                  image_size=16, patch_size=4, vocab_size=50, max_length=6).eval()
    model.encoder.save_pretrained(tmp_path / "out")
    loaded = Aimv2VisionModel.from_pretrained(tmp_path / "out").eval()
    images = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        ours = model.encode_features(images)
        theirs = loaded(pixel_values=model.pixel_values(images)).last_hidden_state
    assert (ours - theirs).abs().max() < 1e-5


def test_run_export_converts_to_transformers(tmp_path):
    torch.manual_seed(2)
    model = AIMv2(AIMv2Config(dim=32, depth=1, num_heads=4, decoder_dim=32, decoder_depth=1, decoder_heads=4),
                  image_size=16, patch_size=4, vocab_size=50, max_length=6).eval()
    model.save_pretrained(tmp_path / "export")
    registry = Registry.build(allow=["aimv2"])
    assert "aimv2" in export_targets(registry)["transformers"]
    out = convert_export(tmp_path / "export", tmp_path / "hf", "transformers", registry)
    loaded = Aimv2VisionModel.from_pretrained(out).eval()
    images = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(model.encode_features(images),
                              loaded(pixel_values=model.pixel_values(images)).last_hidden_state, atol=1e-5)
    with pytest.raises(FourmError, match="cannot be converted to 'onnx'"):
        convert_export(tmp_path / "export", tmp_path / "x", "onnx", registry)


def test_released_encoder_is_trained_further_with_its_objective(tmp_path):
    ref = hf_model(False, seed=3)
    ref.save_pretrained(tmp_path / "hf")
    cfg = AIMv2Config(pretrained_encoder=str(tmp_path / "hf"), decoder_dim=32, decoder_depth=1, decoder_heads=4)
    model = AIMv2(cfg, image_size=16, patch_size=4, vocab_size=50, max_length=6)
    assert model.config.dim == 32 and model.config.mlp_hidden == 88 and model.config.pretrained_encoder is None
    ours = model.encoder.vision.state_dict()
    assert all(torch.equal(ours[k], v) for k, v in ref.state_dict().items())  # weights kept, not re-initialised
    model.save_pretrained(tmp_path / "export")  # the export no longer needs the released directory
    again = AIMv2.from_pretrained(tmp_path / "export")
    assert torch.equal(again.encoder.vision.embeddings.patch_embed.weight, ref.embeddings.patch_embed.weight)
    with pytest.raises(FourmError, match="image_size 16"):
        AIMv2(cfg, image_size=32, patch_size=4, vocab_size=50, max_length=6)


def test_fourm_convert_to_transformers_cli(tmp_path):
    """``fourm convert --to transformers EXPORT OUT`` gives a directory transformers loads with equal features."""
    from typer.testing import CliRunner

    from fourm_cli.app import build_app

    torch.manual_seed(4)
    model = AIMv2(AIMv2Config(dim=32, depth=1, num_heads=4, decoder_dim=32, decoder_depth=1, decoder_heads=4),
                  image_size=16, patch_size=4, vocab_size=50, max_length=6).eval()
    model.save_pretrained(tmp_path / "export")
    app, runner = build_app(Registry.build(allow=["aimv2"])), CliRunner()
    res = runner.invoke(app, ["convert", "--to", "transformers", str(tmp_path / "export"), str(tmp_path / "hf")])
    assert res.exit_code == 0, res.output
    loaded = Aimv2VisionModel.from_pretrained(tmp_path / "hf").eval()
    images = torch.rand(2, 3, 16, 16)
    with torch.no_grad():
        assert torch.allclose(model.encode_features(images),
                              loaded(pixel_values=model.pixel_values(images)).last_hidden_state, atol=1e-5)
    again = runner.invoke(app, ["convert", "--to", "transformers", str(tmp_path / "export"), str(tmp_path / "hf")])
    assert again.exit_code == 1 and "--overwrite" in again.output
    listed = {r["name"]: r for r in json.loads(runner.invoke(app, ["families", "--json"]).output)}
    assert listed["aimv2"]["exports"] == "transformers"  # what fourm families shows for --to
    bad = runner.invoke(app, ["convert", "--to", "onnx", str(tmp_path / "export"), str(tmp_path / "x")])
    assert bad.exit_code == 1 and "transformers" in bad.output and "Traceback" not in bad.output
