"""Cached sequence decoding computes the head as ``h @ Wᵀ`` over a row-major copy made per loop:
the same logits and ids as ``linear``, and never a stale weight after the model trains on."""
from __future__ import annotations

import torch

from ._model_helpers import small_registry
from fourm_registry.batch import ModalityBatch
from fourm_registry.generation.autoregressive import decode_sequence
from fourm_registry.generation.fourm_adapter import FourMPredictor, row_major_head
from fourm_registry.model import build_model


def _model():
    registry = small_registry()
    torch.manual_seed(0)
    model = build_model({"dim": 32, "encoder_depth": 1, "decoder_depth": 1, "num_heads": 2}, registry,
                        ["rgb", "caption"]).eval()
    grid = model.specs["rgb"].tokenizer.grid
    rgb = torch.randint(0, 16, (2, grid[0] * grid[1]))
    return model, {"rgb": ModalityBatch(inputs=rgb, input_mask=torch.ones_like(rgb, dtype=torch.bool))}


def _caption(pred, cond, use_cache=True):
    with torch.no_grad():
        dec = pred.sequence_decoder(pred.encode(cond), "caption", use_cache=use_cache)
        return decode_sequence(dec, pred.sequence_start("caption"), 2, 6, set(), pred.pad_id("caption"), lambda _f: 0.0)


def test_row_major_head_gives_the_same_logits_and_ids():
    model, cond = _model()
    pred = FourMPredictor(model)
    head = row_major_head(model, "caption")
    assert head is not None and head.is_contiguous() and head.shape == model.decoder_embeddings["caption"].to_logits.weight.T.shape
    ctx, mask = pred.encode(cond)
    ids = torch.tensor([list(pred.sequence_start("caption"))] * 2)
    ones = torch.ones_like(ids, dtype=torch.bool)
    mb = ModalityBatch(inputs=ids, input_mask=~ones, targets=ids, target_mask=ones)
    with torch.no_grad():
        fast = model.decode("caption", mb, ctx, mask, model.new_cache(), head_t=head)
        plain = model.decode("caption", mb, ctx, mask, model.new_cache())
    assert torch.allclose(fast, plain, atol=1e-5)
    assert _caption(pred, cond) == _caption(pred, cond, use_cache=False)


def test_a_model_that_trains_on_is_decoded_with_its_new_weights():
    model, cond = _model()
    pred = FourMPredictor(model)
    before = _caption(pred, cond)
    with torch.no_grad():  # what an optimizer step does, through .data (no version bump)
        model.decoder_embeddings["caption"].to_logits.weight.data.mul_(-1)
    after = _caption(pred, cond)
    assert after == _caption(pred, cond, use_cache=False) and after != before
    names = set(model.state_dict())
    assert not any("head_t" in n or "row_major" in n for n in names)
