"""Training the released 4M architectures: ``fourm tokenizer train --arch ml4m`` and the vector path.

Checks that the loss falls, the EMA codebook moves, dead codes are replaced, and what is saved
is the released layout (it reopens strictly and through the modality factory).
"""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from fourm_cli.app import build_app

from fourm_registry.interop.ml4m.tokenizers import load_released_tokenizer, read_config
from fourm_registry.shards import AtomicShardWriter

from ._torch_threads import one_torch_thread  # noqa: F401  (autouse)

TINY = ["--set", "dim=64", "--set", "blocks=1", "--set", "latent_dim=16", "--image-size", "32", "--patch-size", "8",
        "--vocab-size", "64", "--batch-size", "4", "--no-progress", "--sample-every", "1000", "--lr", "1e-3"]


def _shards(root: Path, registry) -> None:
    rng = np.random.default_rng(0)
    with AtomicShardWriter(root / "train-000.tar", registry) as w:
        for i in range(8):
            img = np.zeros((32, 32, 3), np.uint8)
            img[:, : 4 * (i + 1)] = rng.integers(0, 256, 3, dtype=np.uint8)  # simple, learnable
            w.write({"__key__": f"k{i}", "rgb": img})


@pytest.mark.parametrize("decoder,extra", [("conv", []), ("diffusion", ["--set", "unet_channels=32",
                                                                       "--set", "unet_res_blocks=1",
                                                                       "--set", "unet_mult=[1,2]"])])
def test_tokenizer_train_ml4m_arch(tmp_path, registry, runner, decoder, extra):
    _shards(tmp_path / "data", registry)
    out = tmp_path / "tok"
    r = runner.invoke(build_app(registry), ["tokenizer", "train", "rgb", "--arch", "ml4m", "--decoder", decoder,
                                            "--data", str(tmp_path / "data"), "--out", str(out), "--steps", "30",
                                            "--log-every", "10", *TINY, *extra])
    assert r.exit_code == 0, r.output
    records = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    assert records[-1]["recon_loss"] < records[0]["recon_loss"]
    assert 0 < records[-1]["codebook_usage"] <= 1
    assert sum(rec["replaced"] for rec in records) > 0  # dead-code replacement ran
    cfg = read_config(out)
    assert cfg["dec_type"] == ("unet_patched" if decoder == "diffusion" else "vit_b_dec")
    model = load_released_tokenizer(out)  # strict load of what was written
    book = model.quantize._codebook
    assert float(book.cluster_size.sum()) > 0  # EMA counts were kept
    spec = registry.get_modality("rgb").with_overrides(image_size=32, patch_size=8, vocab_size=64)
    [tokens] = spec.create_tokenizer(out).encode([np.zeros((32, 32, 3), np.uint8)])
    assert tokens.shape == (4, 4)


def test_vector_memcodes_tokenizer_trains(registry):
    from fourm_registry import MaskingSpec, ModalityKind, ModalitySpec, TokenizerSpec
    from fourm_registry.codecs import npy_codec
    from fourm_registry.interop.ml4m.fresh import fresh_released_vector
    from fourm_registry.tokenizers.vector import VectorTokenizerFactory

    factory = VectorTokenizerFactory(to_vector=lambda v: np.asarray(v, np.float32), from_vector=lambda x: x,
                                     in_features=12)
    spec = ModalitySpec(name="vec", kind=ModalityKind.FEATURE_MAP, description="vector", value="12 float32",
                        masking=MaskingSpec(rule="uniform"), codec=npy_codec(dtype="float32", ndim=1),
                        tokenizer=TokenizerSpec(vocab_size=32, image_size=2, patch_size=1, factory=factory))
    tok = fresh_released_vector(spec, factory, mlp="BottleneckMLP/B_1-Wi_32", latent_dim=16)
    rng = np.random.default_rng(0)
    values = [rng.normal(size=12).astype(np.float32) for _ in range(64)]
    losses = tok.fit(values, steps=60, lr=3e-3, batch_size=32)
    assert np.mean(losses[-10:]) < np.mean(losses[:10])
    codes = tok.encode(values[:3])
    assert [c.shape for c in codes] == [(2, 2)] * 3
    assert torch.is_tensor(tok.model.released.quantize.codes)


def test_released_tokenizer_trains_further_at_another_resolution(tmp_path, registry, runner):
    """Multi-resolution adaptation: a 32-px released-layout tokenizer continues at 64 px
    (position tables resampled bicubically), and the result is the released layout again."""
    from ._released_tok import write_tiny

    rng = np.random.default_rng(1)
    with AtomicShardWriter(tmp_path / "data" / "train-000.tar", registry) as w:
        for i in range(4):
            w.write({"__key__": f"k{i}", "rgb": rng.integers(0, 256, (64, 64, 3), dtype=np.uint8)})
    src = write_tiny(tmp_path / "src", "vit", codebook=64)
    before = load_released_tokenizer(src).state_dict()
    r = runner.invoke(build_app(registry), ["tokenizer", "train", "rgb", "--init", str(src), "--data",
                                            str(tmp_path / "data"), "--out", str(tmp_path / "out"), "--steps", "3",
                                            "--image-size", "64", "--patch-size", "8", "--vocab-size", "64",
                                            "--batch-size", "2", "--no-progress", "--sample-every", "1000"])
    assert r.exit_code == 0, r.output
    after = load_released_tokenizer(tmp_path / "out").state_dict()
    assert set(after) == set(before)
    assert torch.equal(after["encoder.pos_emb"], before["encoder.pos_emb"])  # frozen, built grid kept
    assert not torch.equal(after["encoder.proj.weight"], before["encoder.proj.weight"])  # trained
