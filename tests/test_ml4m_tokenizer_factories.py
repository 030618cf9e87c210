"""Released-layout tokenizers open through the modalities' own tokenizer factories."""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
import torch

from fourm_registry import FourmError
from fourm_registry.interop.ml4m.tokenizers import (
    is_released_source,
    load_released_tokenizer,
    read_config,
)

from ._released_tok import write_tiny
from ._torch_threads import one_torch_thread  # noqa: F401  (autouse)

TOK = Path(os.environ.get("FOURM_ML4M_FIXTURES", Path(__file__).parent / "fixtures" / "ml4m")) / "tok"


def _fixture(kind: str) -> tuple[dict, dict]:
    with np.load(TOK / kind / "cases.npz") as z:
        return json.loads((TOK / kind / "cases.json").read_text()), {k: z[k] for k in z.files}


def test_fixture_semseg_tokenizer_through_the_semseg_factory(registry):
    info, z = _fixture("vqvae_vit")
    cfg = info["model"]["config"]
    spec = registry.get_modality("semseg").with_overrides(
        image_size=cfg["image_size"], patch_size=cfg["patch_size"], extras={"num_classes": cfg["n_labels"]})
    tok = spec.create_tokenizer(TOK / "vqvae_vit")
    for case in info["cases"]:
        labels = z[f"{case}.in.x"]
        got = tok.encode(list(labels))
        assert np.array_equal(np.stack(got), z[f"{case}.enc.tokens"]), case
        dec = tok.decode(got)
        assert np.array_equal(np.stack(dec), z[f"{case}.dec.from_tokens"].argmax(axis=1)), case


def test_fixture_feature_map_tokenizer_through_the_clip_factory(registry):
    info, z = _fixture("vqvae_vit_feat")
    cfg = info["model"]["config"]
    spec = registry.get_modality("clip").with_overrides(extras={"channels": cfg["n_channels"]})
    tok = spec.create_tokenizer(TOK / "vqvae_vit_feat")
    for case in info["cases"]:
        maps = list(z[f"{case}.in.x"].transpose(0, 2, 3, 1))
        got = tok.encode(maps)
        assert np.array_equal(np.stack(got), z[f"{case}.enc.tokens"]), case
        back = np.stack(tok.decode(got)).transpose(0, 3, 1, 2)
        assert np.abs(back - z[f"{case}.dec.from_tokens"]).max() <= 1e-4


def test_fixture_divae_through_the_rgb_factory(registry):
    info, z = _fixture("divae_unet")
    cfg = info["model"]["config"]
    spec = registry.get_modality("rgb").with_overrides(image_size=cfg["image_size"], patch_size=cfg["patch_size"],
                                                     vocab_size=max(16384, cfg["codebook_size"]))
    tok = spec.create_tokenizer(TOK / "divae_unet")
    for case in info["cases"]:
        got = tok.encode_prepared(list(z[f"{case}.in.x"]))
        assert np.array_equal(np.stack(got), z[f"{case}.enc.tokens"]), case
    [img] = tok.decode([got[0]], generator=torch.Generator().manual_seed(0))
    assert img.dtype == np.uint8 and img.shape[:2] == tuple(z[f"{case}.in.x"].shape[-2:])


def test_fixture_mlp_tokenizer_through_a_vector_factory():
    from fourm_registry import MaskingSpec, ModalityKind, ModalitySpec, TokenizerSpec
    from fourm_registry.codecs import npy_codec
    from fourm_registry.tokenizers.vector import VectorTokenizerFactory

    info, z = _fixture("vqvae_mlp")
    cfg = info["model"]["config"]
    n, side = cfg["n_channels"], int(np.sqrt(cfg["num_codebooks"]))
    assert side * side == cfg["num_codebooks"], "the test lays the tokens out as a square grid"
    factory = VectorTokenizerFactory(to_vector=lambda v: np.asarray(v, np.float32), from_vector=lambda x: x,
                                     in_features=n)
    spec = ModalitySpec(name="pose_like", kind=ModalityKind.FEATURE_MAP, description="global vector",
                        value=f"{n} float32", masking=MaskingSpec(rule="uniform"),
                        codec=npy_codec(dtype="float32", ndim=1),
                        tokenizer=TokenizerSpec(vocab_size=max(8192, cfg["codebook_size"]),
                                                image_size=side, patch_size=1, factory=factory))
    tok = spec.create_tokenizer(TOK / "vqvae_mlp")
    vectors = z["native.in.x"][:, :, 0, 0]
    got = tok.encode(list(vectors))
    assert np.array_equal(np.stack([g.reshape(-1) for g in got]), z["native.enc.tokens"][:, :, 0, 0])
    back = np.stack(tok.decode(got))
    assert np.abs(back - z["native.dec.from_tokens"][:, :, 0, 0]).max() <= 1e-4


@pytest.mark.parametrize("name,channels", [("rgb", 3), ("depth", 1), ("normal", 3)])
def test_tiny_divae_per_modality(registry, tmp_path, name, channels):
    path = write_tiny(tmp_path / name, "divae", n_channels=channels)
    spec = registry.get_modality(name).with_overrides(image_size=32, patch_size=8, vocab_size=64)
    tok = spec.create_tokenizer(path)
    rng = np.random.default_rng(0)
    value = {"rgb": lambda: rng.integers(0, 256, (32, 48, 3), dtype=np.uint8),
             "depth": lambda: rng.uniform(1, 5, (32, 48)).astype(np.float32),
             "normal": lambda: np.dstack([np.zeros((32, 48, 2)), np.ones((32, 48, 1))]).astype(np.float32)}[name]()
    [tokens] = tok.encode([value])
    assert tokens.shape == (4, 6)
    x = torch.from_numpy(tok.prepare(value))[None]
    assert torch.equal(load_released_tokenizer(path).tokenize(x)[0], torch.from_numpy(tokens))
    [back] = tok.decode([tokens], generator=torch.Generator().manual_seed(0))
    assert back.shape == value.shape


def test_sam_instance_masks_with_an_out_conv_decoder(tmp_path):
    from fourm_sam.instance import MASK_CODES, MASK_SIZE, mask_tokenizer

    path = write_tiny(tmp_path / "sam", "vit", n_channels=1, image=MASK_SIZE, patch=16, codebook=MASK_CODES,
                      out_conv=True)
    assert any(k.startswith("decoder.out_conv.1.dwconv") for k in load_released_tokenizer(path).state_dict())
    tok = mask_tokenizer(path)
    mask = np.zeros((MASK_SIZE, MASK_SIZE), bool)
    mask[10:40, 5:50] = True
    [tokens] = tok.encode([mask])
    assert tokens.shape == (MASK_SIZE // 16, MASK_SIZE // 16)
    x = torch.from_numpy(np.where(mask, 1.0, -1.0).astype(np.float32))[None, None]
    released = load_released_tokenizer(path)
    assert torch.equal(released.tokenize(x)[0], torch.from_numpy(tokens))
    [back] = tok.decode([tokens])
    assert back.dtype == bool and back.shape == mask.shape
    assert np.array_equal(back, released.decode_tokens(torch.from_numpy(tokens)[None])[0, 0].numpy() > 0)


def test_widths_come_from_the_checkpoint_not_the_type_string(tmp_path):
    path = write_tiny(tmp_path / "t", "vit", dim=128, n_channels=3)
    assert read_config(path)["enc_type"] == "vit_b_enc"
    arch = load_released_tokenizer(path).arch
    assert (arch.encoder.dim, arch.encoder.depth, arch.encoder.heads) == (128, 1, 2)
    cfg = read_config(path)
    (path / "config.json").write_text(json.dumps({**cfg, "patch_size": 2 * cfg["patch_size"]}))
    again = load_released_tokenizer(path).arch  # the patch is the kernel of the checkpoint's projection
    assert (again.patch_size, again.patch_size_dec) == (cfg["patch_size"], None)


def test_resave_round_trip_is_bit_identical(tmp_path):
    src = write_tiny(tmp_path / "a", "divae")
    model = load_released_tokenizer(src)
    from fourm_registry.interop.ml4m.tokenizers import save_released_tokenizer

    save_released_tokenizer(model, tmp_path / "b")
    again = load_released_tokenizer(tmp_path / "b")
    assert all(torch.equal(v, again.state_dict()[k]) for k, v in model.state_dict().items())
    assert read_config(tmp_path / "b") == read_config(src)


def test_bad_sources_fail_in_one_line(registry, tmp_path):
    assert not is_released_source(tmp_path)
    assert is_released_source("EPFL-VILAB/4M_tokenizers_rgb_16k_224-448")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "config.json").write_text(json.dumps({"enc_type": "vit_b_enc", "quant_type": "lucid"}))
    (tmp_path / "bad" / "model.safetensors").write_bytes(b"")
    with pytest.raises(FourmError):
        load_released_tokenizer(tmp_path / "bad")
    depth = write_tiny(tmp_path / "d", "divae", n_channels=1)
    spec = registry.get_modality("rgb").with_overrides(image_size=32, patch_size=8, vocab_size=64)
    with pytest.raises(FourmError, match="channels"):
        spec.create_tokenizer(depth)


def test_label_tokenizer_with_an_extra_no_class_label(registry, tmp_path):
    """4M's COCO tokenizer has 133 classes + "no class": a 133-class modality uses it as it is."""
    spec = registry.get_modality("semseg").with_overrides(image_size=32, patch_size=8, vocab_size=64)
    classes = int(spec.extras["num_classes"])
    path = write_tiny(tmp_path / "semseg", "vit", n_channels=16, n_labels=classes + 1, codebook=64)
    tok = spec.create_tokenizer(path)
    labels = np.random.default_rng(0).integers(0, classes, (32, 32)).astype(np.uint8)
    [tokens] = tok.encode([labels])
    released = load_released_tokenizer(path)
    assert torch.equal(released.tokenize(torch.from_numpy(labels.astype(np.int64))[None])[0], torch.from_numpy(tokens))
    [back] = tok.decode([tokens])
    logits = released.decode_tokens(torch.from_numpy(tokens)[None])[0, :classes]
    assert back.shape == labels.shape and back.max() < classes
    assert np.array_equal(back, logits.argmax(0).numpy())
