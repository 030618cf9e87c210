"""SAM modalities: instance text and codec, mask tokenizer, labelers from a tiny local SamModel."""
from __future__ import annotations

import numpy as np
import pytest

from fourm_registry import Registry
from fourm_registry.testing import ModalityConformance, check_train_and_generate
from fourm_sam.instance import (MASK_SIZE, MASK_TOKENS, crop_mask, from_text, mask_tokenizer, to_text,
                                tokenize_instances)
from fourm_sam.labelers import SamEdgeLabeler, SamInstanceLabeler


class TestSamConformance(ModalityConformance):
    modalities = ("sam_instance", "sam_edge")
    allow = ("sam",)


@pytest.fixture(scope="module")
def tiny_sam(tmp_path_factory):
    import torch
    from transformers import SamConfig, SamImageProcessor, SamModel, SamProcessor

    path = tmp_path_factory.mktemp("sam")
    torch.manual_seed(0)
    SamModel(SamConfig(
        vision_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, mlp_dim=64,
                           output_channels=32, image_size=256, patch_size=16, global_attn_indexes=[0],
                           window_size=4, num_pos_feats=16),
        prompt_encoder_config=dict(hidden_size=32, image_size=256, patch_size=16, mask_input_channels=4),
        mask_decoder_config=dict(hidden_size=32, num_hidden_layers=1, num_attention_heads=2, mlp_dim=64,
                                 iou_head_hidden_dim=32),
    )).save_pretrained(path)
    SamProcessor(image_processor=SamImageProcessor(
        size={"longest_edge": 256}, pad_size={"height": 256, "width": 256})).save_pretrained(path)
    return str(path)


def test_text_follows_4m21():
    value = [{"point": [0.5, 0.25], "instances": [{"box": [0.1, 0.2, 0.3, 0.4], "tokens": list(range(510, 526))}]},
             {"point": [0.0, 1.0], "instances": []}]
    text = to_text(value)
    assert text.startswith("point v0=500 v1=250 polygon v0=100 v1=200 v2=300 v3=400 v0=510 v0=511 v1=0 ")
    assert text.endswith("point v0=0 v1=999 none")
    back = from_text(text)
    assert back[0]["instances"][0]["tokens"] == list(range(510, 526)) and back[1]["instances"] == []
    # generated text with a truncated instance keeps the rest
    assert len(from_text(text.replace("v1=13", "")) [0]["instances"]) == 0


def test_masks_crop_pack_and_tokenize():
    full = np.zeros((100, 200), bool)
    full[20:60, 50:150] = True
    box, crop = crop_mask(full)
    assert box == [0.25, 0.2, 0.75, 0.6] and crop.shape == (MASK_SIZE, MASK_SIZE) and crop.all()
    assert crop_mask(np.zeros((4, 4), bool)) is None
    spec = Registry.build(allow=["sam"]).get_modality("sam_instance")
    value = [{"point": [0.5, 0.4], "instances": [{"box": box, "mask": crop}]}]
    with pytest.raises(ValueError, match="tokenize_instances"):
        to_text(value)
    back = spec.codec.decode(spec.codec.encode(value))
    assert np.array_equal(back[0]["instances"][0]["mask"], crop)
    tokenize_instances([value], mask_tokenizer())
    toks = value[0]["instances"][0]["tokens"]
    assert len(toks) == MASK_TOKENS and all(0 <= t < 1024 for t in toks)
    assert from_text(to_text(value))[0]["instances"][0]["tokens"] == toks


@pytest.mark.slow
def test_instance_labeler_from_a_tiny_local_model(tiny_sam, tmp_path):
    from skimage import data

    mask_tokenizer().save_pretrained(f"{tiny_sam}/mask_tokenizer")
    lab = SamInstanceLabeler(tiny_sam, min_iou=-1e9, n_points=4)  # random weights: accept every mask
    (value,) = lab([data.astronaut()])
    assert len(value) == 4 and all(0 <= c <= 1 for q in value for c in q["point"])
    instances = [inst for q in value for inst in q["instances"]]
    assert instances and all(len(inst["tokens"]) == MASK_TOKENS for inst in instances)
    assert len(to_text(value).split()) <= 290
    spec = Registry.build(allow=["sam"]).get_modality("sam_instance")
    assert spec.extras["distance"](value, from_text(to_text(value))) <= spec.extras["roundtrip_tolerance"]


@pytest.mark.slow
def test_edge_labeler_from_a_tiny_local_model(tiny_sam):
    from skimage import data

    (edges,) = SamEdgeLabeler(tiny_sam, points_per_side=4, min_iou=-1e9)([data.coffee()])
    assert edges.shape == data.coffee().shape[:2] and edges.dtype == np.uint8
    assert set(np.unique(edges)) <= {0, 255} and 0 < (edges > 0).mean() < 1


def test_a_model_with_the_core_and_these_modalities_trains_and_generates_each():
    reg = Registry.build(allow=["sam"])
    mine = list(("sam_instance", "sam_edge"))
    core = sorted(Registry.build(allow=[]).modalities)
    generated = check_train_and_generate(reg, core + mine)
    assert {n for n in mine if not reg.get_modality(n).input_only} <= set(generated)
