"""Shared helpers of the 4M-21 plugins: coordinate tokens and the MLP vector quantiser."""
from __future__ import annotations

import numpy as np
import pytest

from fourm_4m21_common.coords import (coord, dequantize, id_from_word, id_to_word, parse_coord,
                                      quantize)
from fourm_4m21_common.vector_vq import VectorTokenizer, VectorVQ, VectorVQConfig
from fourm_registry import FourmError


def test_coordinate_tokens():
    assert coord(2, 17.4) == "v2=17" and coord(0, -5) == "v0=0" and coord(1, 5000) == "v1=999"
    assert parse_coord("v3=999") == (3, 999)
    assert parse_coord("v4=1") is None and parse_coord("v0=1000") is None and parse_coord("dog") is None
    with pytest.raises(ValueError):
        coord(4, 1)


def test_codes_take_two_axes_and_quantisation_inverts():
    assert [id_to_word(i) for i in (0, 511, 512, 1023)] == ["v0=0", "v0=511", "v1=0", "v1=511"]
    assert all(id_from_word(id_to_word(i)) == i for i in range(1024))
    assert id_from_word("v2=3") is None
    assert all(quantize(dequantize(b, -3, 3), -3, 3) == b for b in range(1000))


def test_vector_tokenizer_shapes_validation_and_persistence(tmp_path):
    model = VectorVQ(VectorVQConfig(modality="demo", in_features=6, num_tokens=4, vocab_size=32, hidden=16))
    tok = VectorTokenizer(model, np.asarray, lambda x: x, shape=(2, 2))
    values = [np.arange(6, dtype=np.float32) * k for k in range(3)]
    ids = tok.encode(values)
    assert [t.shape for t in ids] == [(2, 2)] * 3 and all(t.max() < 32 for t in ids)
    assert [v.shape for v in tok.decode(ids)] == [(6,)] * 3
    with pytest.raises(FourmError, match="expected 6 finite numbers"):
        tok.encode([np.zeros(5)])
    with pytest.raises(FourmError, match="ids in 0..31"):
        tok.decode([np.full(4, 99)])
    tok.save_pretrained(tmp_path)
    again = VectorVQ.from_pretrained(tmp_path)
    assert again.config == model.config
    with pytest.raises(FourmError, match="not a saved vector tokenizer"):
        VectorVQ.from_pretrained(tmp_path / "missing")
