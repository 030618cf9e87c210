"""The ``aimv2`` feature-map modality: registered, and its labeler gives h×w×C maps equal to the
transformers model's last_hidden_state (tiny random checkpoint saved locally)."""
from __future__ import annotations

import numpy as np
import torch
from transformers import Aimv2VisionConfig, Aimv2VisionModel, CLIPImageProcessor

from fourm_registry import Registry

torch.set_num_threads(1)


def test_labeler_maps_equal_transformers_features(tmp_path):
    registry = Registry.build(allow=["aimv2"])
    spec = registry.get_modality("aimv2")
    assert spec.kind.value == "feature_map" and registry.provider("aimv2") == "aimv2"
    torch.manual_seed(0)
    ref = Aimv2VisionModel(Aimv2VisionConfig(hidden_size=32, intermediate_size=64, num_hidden_layers=1,
                                             num_attention_heads=4, image_size=16, patch_size=4)).eval()
    ref.save_pretrained(tmp_path / "m")
    proc = CLIPImageProcessor(size={"shortest_edge": 16}, crop_size={"height": 16, "width": 16})
    proc.save_pretrained(tmp_path / "m")
    labeler = registry.get_labeler("aimv2").factory(str(tmp_path / "m"), "cpu")
    images = [np.random.default_rng(i).integers(0, 255, (16, 16, 3), dtype=np.uint8) for i in range(2)]
    maps = labeler(images)
    assert [m.shape for m in maps] == [(4, 4, 32)] * 2
    pixels = proc(images=images, return_tensors="pt")["pixel_values"]
    with torch.no_grad():
        expected = ref(pixel_values=pixels).last_hidden_state.reshape(2, 4, 4, 32).numpy()
    assert np.abs(np.stack(maps) - expected).max() < 1e-4
    assert spec.draw(maps[0]).size == (4, 4)
