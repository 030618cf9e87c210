"""The shared WordPiece vocabulary: 4M layout, training, saving, the published file, sequences."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from tokenizers import Tokenizer

from fourm_registry import FourmError, tokens as T
from fourm_registry.tokenizers import SequenceTokenizer, TextTokenizer, load_tokenizers
from fourm_registry.tokenizers.sequence import train_text_tokenizer
from fourm_modalities.det import Detections

OFFICIAL = Path(__file__).resolve().parents[1].parent / "shared" / "ml4m" / "text_tokenizer_4m_wordpiece_30k.json"
CORPUS = [
    "A photo of a cat sitting on a table.", "Two dogs are playing in the park.",
    "A red car parked next to a traffic light.", "People walking down a busy street at night.",
    "A plate of food with broccoli and rice.", "A man riding a bicycle along the beach.",
] * 50


@pytest.fixture(scope="module")
def trained(registry_module) -> TextTokenizer:
    return train_text_tokenizer(CORPUS, registry_module, "text", vocab_size=5000, min_frequency=1)


@pytest.fixture(scope="module")
def registry_module():
    from fourm_registry import Registry

    return Registry.build(allow=[])


def test_layout_of_a_trained_vocabulary(trained: TextTokenizer) -> None:
    tok = trained.tokenizer
    assert [tok.token_to_id(t) for t in ("[PAD]", "[UNK]", "[SOS]", "[EOS]")] == [0, 1, 2, 3]
    assert tok.token_to_id("[S_0]") == 4 and tok.token_to_id("[S_199]") == 203
    assert tok.token_to_id("v0=0") == 204 and tok.token_to_id("v0=999") == 1203
    assert tok.token_to_id("v1=0") == 1204 and tok.token_to_id("v3=999") == 4203
    # class-name tokens of the det modality follow, in its declared order
    assert tok.token_to_id("airplane") == 4204 and tok.token_to_id("zebra") == 4283
    assert tok.token_to_id("traffic light") == 4276
    assert trained.vocab_size <= 5000


def test_text_round_trip_and_coordinates_survive(trained: TextTokenizer) -> None:
    text = "two dogs are playing in the park."
    ids = trained.encode("Two dogs are playing in the park.")
    assert T.SOS_ID not in ids and T.EOS_ID not in ids
    assert trained.decode(ids) == text
    ids = trained.encode("v0=12 v1=34 v2=567 v3=999 traffic light")
    assert ids == [T.coord_id(0, 12), T.coord_id(1, 34), T.coord_id(2, 567), T.coord_id(3, 999), 4276]
    # generated text: sentinels/padding dropped, stops at [EOS]
    noisy = [T.SOS_ID, T.sentinel_id(0)] + ids + [T.EOS_ID, 999, T.PAD_ID]
    assert trained.decode(noisy) == "v0=12 v1=34 v2=567 v3=999 traffic light"
    with pytest.raises(ValueError, match="outside the text vocabulary"):
        trained.decode([trained.vocab_size + 5])


def test_save_writes_tokenizers_and_transformers_files(trained: TextTokenizer, tmp_path: Path) -> None:
    trained.save_pretrained(tmp_path)
    assert (tmp_path / "tokenizer.json").is_file() and (tmp_path / "tokenizer_config.json").is_file()
    raw = Tokenizer.from_file(str(tmp_path / "tokenizer.json"))
    assert raw.encode("a cat", add_special_tokens=False).ids == trained.encode("a cat")
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(tmp_path))
    assert hf.pad_token_id == 0 and hf.eos_token_id == 3 and hf.bos_token_id == 2
    ids = hf("v0=5 cat", add_special_tokens=False)["input_ids"]
    assert ids == [T.coord_id(0, 5), 4224]
    assert hf.decode(ids, skip_special_tokens=True) == "v0=5 cat"  # coordinates are not "special"
    assert TextTokenizer.from_pretrained(tmp_path).encode("a cat") == trained.encode("a cat")


def test_wrong_layout_is_refused(tmp_path: Path) -> None:
    from tokenizers import models

    bad = Tokenizer(models.WordPiece({"[UNK]": 0, "[PAD]": 1}, unk_token="[UNK]"))
    bad.save(str(tmp_path / "tokenizer.json"))
    with pytest.raises(FourmError, match="4M token layout"):
        TextTokenizer.from_pretrained(tmp_path)
    with pytest.raises(FourmError, match="No text tokenizer"):
        TextTokenizer.from_pretrained(tmp_path / "missing")


@pytest.mark.skipif(not OFFICIAL.is_file(), reason="published 4M tokenizer not available")
def test_official_4m_tokenizer_loads_unchanged() -> None:
    before = OFFICIAL.read_bytes()
    tok = TextTokenizer.from_pretrained(OFFICIAL)
    assert tok.vocab_size == 30000
    assert tok.encode("a photo of a cat") == [4321, 5151, 4925, 4321, 4224]
    assert tok.encode("v0=12 v1=34 v2=567 v3=999 cat") == [216, 1238, 2771, 4203, 4224]
    assert tok.encode("v0=0 v1=0 v2=999 v3=999 dining table") == [204, 1204, 3203, 4203, 4231]
    assert tok.decode([2, 216, 1238, 2771, 4203, 4224, 3, 0]) == "v0=12 v1=34 v2=567 v3=999 cat"
    assert OFFICIAL.read_bytes() == before


@pytest.mark.skipif(not OFFICIAL.is_file(), reason="published 4M tokenizer not available")
def test_official_file_serves_both_sequence_modalities(registry, tmp_path: Path) -> None:
    (tmp_path / "text").mkdir()
    (tmp_path / "text" / "tokenizer.json").write_bytes(OFFICIAL.read_bytes())
    toks = load_tokenizers(tmp_path, registry)
    assert set(toks) == {"caption", "det"}
    det = toks["det"]
    value = Detections([{"box": [0, 0, 100, 50], "label": "cat", "score": 0.9}], image_size=(200, 100))
    [ids] = det.encode([value])
    assert ids.tolist() == [204, 1204, 2704, 3704, 4224]  # v0=0 v1=0 v2=500 v3=500 cat
    [back] = det.decode([ids])
    assert back[0]["label"] == "cat" and back[0]["box"] == pytest.approx([0, 0, 500 / 999, 500 / 999])
    [cap] = toks["caption"].decode(toks["caption"].encode(["A photo of a cat"]))
    assert cap == "a photo of a cat"


def test_sequence_tokenizer_truncates_and_names_bad_values(registry, trained: TextTokenizer) -> None:
    spec = registry.get_modality("caption").with_overrides(max_length=4)
    seq = SequenceTokenizer(spec, trained)
    [ids] = seq.encode(["two dogs are playing in the park"])
    assert ids.dtype == np.int64 and len(ids) == 4
    det = SequenceTokenizer(registry.get_modality("det"), trained)
    with pytest.raises(FourmError, match=r"'det', sample 'k7'.*image_size"):
        det.encode([[{"box": [0, 0, 1, 1], "label": "cat"}]], keys=["k7"])
    with pytest.raises(FourmError, match=r"'caption', sample 'k9'.*outside"):
        seq.decode([np.array([99999])], keys=["k9"])
    small = registry.get_modality("caption").with_overrides(vocab_size=100)
    with pytest.raises(FourmError, match="vocab_size"):
        SequenceTokenizer(small, trained)


def test_untrained_sequence_tokenizer_needs_no_corpus(registry) -> None:
    tok = registry.get_modality("caption").create_tokenizer(None)
    [ids] = tok.encode(["Hello world"])
    assert T.UNK_ID not in ids.tolist()
    assert tok.decode([ids]) == ["hello world"]


def test_load_tokenizers_explicit_name_missing(registry, tmp_path: Path) -> None:
    with pytest.raises(FourmError, match="'rgb' has no saved tokenizer"):
        load_tokenizers(tmp_path, registry, ["rgb"])
    assert load_tokenizers(tmp_path, registry) == {}
    with pytest.raises(FourmError, match="does not exist"):
        load_tokenizers(tmp_path / "nope", registry)


def test_trained_file_is_plain_tokenizers_json(trained: TextTokenizer, tmp_path: Path) -> None:
    trained.save_pretrained(tmp_path)
    data = json.loads((tmp_path / "tokenizer.json").read_text())
    assert data["normalizer"]["type"] == "BertNormalizer" and data["normalizer"]["lowercase"] is True
    flags = {a["content"]: a["special"] for a in data["added_tokens"]}
    assert flags["[EOS]"] is True and flags["[S_3]"] is True
    assert flags["v2=7"] is False and flags["zebra"] is False
