"""``fourm probe`` on AIMv2 encoders: a run export (the family's encode_features), a transformers
Aimv2VisionModel directory (``hf:``), and a folder of the user's own labelled images."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from _aimv2_shards import SETTINGS, make_sample, write_shards
from fourm_aimv2 import AIMv2, AIMv2Config
from fourm_cli.app import build_app
from fourm_registry import Registry

torch.set_num_threads(1)


@pytest.fixture
def runner():
    from typer.testing import CliRunner

    return CliRunner()


@pytest.fixture(scope="module")
def setup(tmp_path_factory):
    registry = Registry.build(allow=["aimv2"])
    root = tmp_path_factory.mktemp("aimv2_probe")
    shards = write_shards(root / "shards", registry.with_overrides(SETTINGS), per_shard=48, val=32)
    torch.manual_seed(0)
    model = AIMv2(AIMv2Config(dim=32, depth=1, num_heads=4, decoder_dim=32, decoder_depth=1, decoder_heads=4),
                  image_size=16, patch_size=4, vocab_size=300, max_length=12)
    model.save_pretrained(root / "export")
    model.encoder.save_pretrained(root / "hf")
    from transformers import CLIPImageProcessor

    CLIPImageProcessor(size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16}).save_pretrained(root / "hf")
    return registry, root, shards


@pytest.mark.parametrize("encoder", ["export", "hf"])
def test_probe_beats_chance_on_colour(setup, runner, encoder):
    registry, root, shards = setup
    target = str(root / "export") if encoder == "export" else f"hf:{root / 'hf'}"
    out = root / f"{encoder}.json"
    result = runner.invoke(build_app(registry), ["probe", target, "--data", shards["train"], "--val", shards["val"],
                                                 "--label", "facts.colour", "--epochs", "30", "--lr", "3e-3",
                                                 "--out", str(out)])
    assert result.exit_code == 0, result.output
    (row,) = json.loads(out.read_text())
    assert row["n_train"] == 96 and row["n_val"] == 32 and len(row["classes"]) == 4
    assert row["accuracy"] > row["chance"] + 0.25, row


def test_probe_on_a_folder_of_own_images(setup, runner):
    registry, root, _ = setup
    folder = root / "mine"
    folder.mkdir()
    rng = np.random.default_rng(5)
    lines = []
    for i in range(40):
        s = make_sample(rng, f"m{i}")
        Image.fromarray(s["rgb"]).save(folder / f"{i}.png")
        lines.append(f"{i}.png\t{['red', 'green', 'blue', 'yellow'][s['facts']['colour']]}")
    (root / "labels.tsv").write_text("\n".join(lines) + "\n")
    result = runner.invoke(build_app(registry), ["probe", str(root / "export"), "--images", str(folder),
                                                 "--labels", str(root / "labels.tsv"), "--epochs", "5"])
    assert result.exit_code == 0, result.output
    assert "label: accuracy" in result.output and "32 train / 8 held-out" in result.output
