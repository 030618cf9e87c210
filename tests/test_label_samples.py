"""Labelers that read whole samples (``LabelerSpec.inputs="sample"``) run under ``fourm label``,
after the labelers of the fields they read."""
from __future__ import annotations

import json

import numpy as np
import pytest

from fourm_cli.app import build_app
from fourm_registry import (FourmError, LabelerSpec, MaskingSpec, ModalityKind, ModalitySpec, Registry,
                            TokenizerSpec, hookimpl, json_codec, npy_codec, read_samples)
from fourm_registry.labeling.labelers import run_order

from ._label_helpers import write_img2dataset_shard


def test_run_order_puts_readers_after_what_they_read():
    reads = {"stats": ("count", "caption"), "count": ("mask",)}
    assert run_order(["stats", "count", "mask"], reads) == ["mask", "count", "stats"]
    assert run_order(["stats", "other"], reads) == ["stats", "other"]  # reads outside the run: no constraint
    with pytest.raises(FourmError, match="cycle: a -> b -> a"):
        run_order(["a", "b"], {"a": ("b",), "b": ("a",)})


def _bright_labeler(model, device):
    return lambda images: [(np.asarray(im).mean(-1) > 127).astype(np.float32) for im in images]


def _count_labeler(model, device):
    def label(samples):
        return [{"bright": int(s["bright_mask"].sum()), "caption_words": len(s.get("caption", "").split()),
                 "image_px": int(s["__image__"].shape[0] * s["__image__"].shape[1]), "key": s["__key__"]}
                for s in samples]
    return label


class _Derived:
    """An image-labeled mask and a count derived from it and the caption."""

    @hookimpl
    def register_modalities(self, register):
        register(ModalitySpec(
            name="bright_mask", kind=ModalityKind.DENSE, tokenizer=TokenizerSpec(vocab_size=16, image_size=8,
                                                                                 patch_size=4),
            masking=MaskingSpec(rule="uniform"), codec=npy_codec(dtype="float32", ndim=2),
            labeler=LabelerSpec(name="brightness_threshold", modality="bright_mask", factory=_bright_labeler)))
        register(ModalitySpec(
            name="bright_count", kind=ModalityKind.EMBEDDING, tokenizer=TokenizerSpec(vocab_size=1, max_length=1),
            masking=MaskingSpec(rule="uniform"), codec=json_codec(), extras={"embedding_dim": 1},
            labeler=LabelerSpec(name="bright_counter", modality="bright_count", factory=_count_labeler,
                                inputs="sample", reads=("bright_mask", "caption"))))


def test_a_sample_labeler_reads_fields_labeled_earlier_in_the_same_pass(tmp_path, runner):
    keys = write_img2dataset_shard(tmp_path / "in.tar", ["k0", "k1", "k2"])
    reg = Registry.build(_Derived(), allow=[])
    result = runner.invoke(build_app(reg), ["label", str(tmp_path / "in.tar"), "--out", str(tmp_path / "out"),
                                            "-m", "bright_count,bright_mask", "--quiet", "--json",
                                            "--device", "cpu"])
    assert result.exit_code == 0, result.output
    samples = list(read_samples(str(tmp_path / "out"), reg))
    assert [s["__key__"] for s in samples] == keys
    for i, s in enumerate(samples):
        count = s["bright_count"]
        assert count["bright"] == int(s["bright_mask"].sum()) and count["key"] == s["__key__"]
        assert count["caption_words"] == len(f"a photo number {i}".split())
        assert count["image_px"] == s["rgb"].shape[0] * s["rgb"].shape[1]


def test_metadata_statistics_run_under_fourm_label(tmp_path, runner):
    pytest.importorskip("fourm_metadata")
    keys = write_img2dataset_shard(tmp_path / "in.tar", ["m0", "m1"], seed=3)
    reg = Registry.build(allow=["metadata"])
    result = runner.invoke(build_app(reg), ["label", str(tmp_path / "in.tar"), "--out", str(tmp_path / "out"),
                                            "-m", "metadata", "--quiet", "--json", "--device", "cpu"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["images"] == len(keys)
    for s in read_samples(str(tmp_path / "out"), reg):
        meta = s["metadata"]
        assert meta["original_width"] == s["rgb"].shape[1] and meta["caption_n_words"] == len(s["caption"].split()) > 0
        assert 0 <= meta["brightness"] <= 255


def test_mps_is_an_accepted_device(monkeypatch):
    import torch

    from fourm_registry.labeling import resolve_device

    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert resolve_device("mps") == "mps" and resolve_device("auto") == "mps"
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert resolve_device("auto") == "cpu"
    with pytest.raises(FourmError, match="no Apple MPS device"):
        resolve_device("mps")
    with pytest.raises(FourmError, match="use auto, cpu, mps or cuda"):
        resolve_device("tpu")
