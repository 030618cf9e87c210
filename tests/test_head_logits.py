"""The decoding head's row-major fast path equals ``linear`` and never serves a stale weight."""
from __future__ import annotations

import torch
from torch import nn

from fourm_registry.model.embeddings import DECODE_ROWS, head_logits


def holder(dim: int = 16, vocab: int = 50) -> nn.Module:
    m = nn.Module()
    m.to_logits = nn.Linear(dim, vocab, bias=False)
    return m


def test_fast_path_equals_linear_and_follows_the_weight():
    torch.manual_seed(0)
    m = holder()
    h = torch.randn(2, 1, 16)
    with torch.no_grad():
        y = head_logits(m, h)
        assert "_head_t" in m.__dict__ and torch.allclose(y, m.to_logits(h), atol=1e-5)
        m.to_logits.weight.mul_(2)  # an in-place update (an optimizer step) makes a new copy
        assert torch.allclose(head_logits(m, h), m.to_logits(h), atol=1e-5)
        m.to_logits.weight = nn.Parameter(torch.randn(50, 16))  # a new tensor, too
        assert torch.allclose(head_logits(m, h), m.to_logits(h), atol=1e-5)
    assert "_head_t" not in m.state_dict() and list(m.state_dict()) == ["to_logits.weight"]


def test_training_and_many_rows_use_linear():
    m = holder()
    h = torch.randn(3, 4, 16, requires_grad=True)
    y = head_logits(m, h)  # grad enabled: linear itself, exactly
    assert torch.equal(y, m.to_logits(h)) and "_head_t" not in m.__dict__
    y.sum().backward()
    assert h.grad is not None
    with torch.no_grad():
        big = torch.randn(DECODE_ROWS + 1, 16)
        assert torch.equal(head_logits(m, big), m.to_logits(big)) and "_head_t" not in m.__dict__
