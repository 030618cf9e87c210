"""JAM-Cross for CM3: two parent decoders side by side, joined by causal bi-directional cross-attention.

After every ``every``-th block, each trunk's position i attends to the other trunk's positions
≤ i (the same causal mask as self-attention) and adds the result to its residual stream; the
fusion output projections start at zero, so at initialisation each trunk computes exactly its
parent's function. Each trunk keeps its parent's token and position embeddings; one fused head
over the concatenated trunk outputs gives the logits, ``[w_A·H_A, w_B·H_B]``: rows of a modality
only one parent was trained on are that parent's head alone (so its logits are that parent's),
the other rows (shared modalities, special tokens) mix both with ``--weights``. Decoding and the
KV cache work as for :class:`~.model.CM3` (one cache per trunk block and per fusion direction).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from fourm_registry import FourmError
from fourm_registry.merging.cross_model import FusedHead, Fusion
from fourm_registry.model import KVCache

from .config import CM3CrossConfig
from .model import CM3, CM3Output, Exportable, lm_loss, window

FORMAT, FAMILY = "fourm-cm3-cross/1", "cm3-cross"


@dataclass
class CrossCache:
    a: list[KVCache]
    b: list[KVCache]
    fusion: dict[str, tuple[KVCache, KVCache]] = field(default_factory=dict)

    @property
    def length(self) -> int:
        return self.a[0].length


class CM3Cross(Exportable, nn.Module):
    FORMAT, FAMILY, CONFIG = FORMAT, FAMILY, CM3CrossConfig

    def __init__(self, cfg: CM3CrossConfig, vocab: dict[str, dict[str, Any]], order: list[str],
                 modalities: dict[str, dict[str, Any]]):
        super().__init__()
        self.config = cfg
        self.a, self.b = CM3(cfg.a, vocab, order, modalities), CM3(cfg.b, vocab, order, modalities)
        del self.a.head, self.b.head  # replaced by the fused head
        self.fusion = nn.ModuleDict({str(i): Fusion(cfg.a, cfg.b) for i in range(cfg.a.depth)
                                     if (i + 1) % cfg.every == 0})
        self.head = FusedHead(cfg.a.dim, cfg.b.dim, self.a.layout.size)

    # what decoding and the trainer read, as on CM3
    vocab = property(lambda self: self.a.vocab)
    order = property(lambda self: self.a.order)
    records = property(lambda self: self.a.records)
    layout = property(lambda self: self.a.layout)
    max_len = property(lambda self: self.a.max_len)

    def cover(self, records: dict[str, dict[str, Any]]) -> None:
        self.a.cover(records)
        self.b.cover(records)

    def new_cache(self) -> CrossCache:
        return CrossCache(self.a.new_cache(), self.b.new_cache(),
                          {k: (KVCache(), KVCache()) for k in self.fusion})

    def logits(self, ids: torch.Tensor, cache: CrossCache | None = None) -> torch.Tensor:
        start = cache.length if cache else 0
        new, mask = window(ids, start, self.max_len)
        ha = self.a.tok_emb(new) + self.a.pos_emb[:, start:ids.shape[1]]
        hb = self.b.tok_emb(new) + self.b.pos_emb[:, start:ids.shape[1]]
        for i, (blk_a, blk_b) in enumerate(zip(self.a.blocks, self.b.blocks, strict=True)):
            ha = blk_a(ha, mask, cache.a[i] if cache else None)
            hb = blk_b(hb, mask, cache.b[i] if cache else None)
            if str(i) in self.fusion:
                ha, hb = self.fusion[str(i)](ha, hb, mask, cache.fusion[str(i)] if cache else None)
        return self.head(self.a.norm(ha), self.b.norm(hb))

    def forward(self, batch: dict[str, Any]) -> CM3Output:
        return lm_loss(self.logits, self.layout, batch)


def fuse(model_a: CM3, model_b: CM3, every: int, weights: tuple[float, float]) -> CM3Cross:
    """The family's ``fuse``: a :class:`CM3Cross` whose trunks are copies of the two parents."""
    if model_a.vocab != model_b.vocab:
        raise FourmError("--method cross needs CM3 parents with one vocabulary.")
    records = {**model_a.records, **{n: r for n, r in model_b.records.items() if n not in model_a.records}}
    if model_a.config.depth != model_b.config.depth:
        raise FourmError(f"--method cross needs parents of the same depth: A has depth {model_a.config.depth}, "
                         f"B has depth {model_b.config.depth}.")
    if every < 1:
        raise FourmError(f"--every {every}: give a positive layer interval.")
    cfg = CM3CrossConfig(a=model_a.config, b=model_b.config, every=every)
    fused = CM3Cross(cfg, model_a.vocab, model_a.order, records)
    for trunk, parent in ((fused.a, model_a), (fused.b, model_b)):
        trunk.load_state_dict({k: v for k, v in parent.state_dict().items() if not k.startswith("head.")})
    wa, wb = torch.full((fused.layout.size, 1), weights[0]), torch.full((fused.layout.size, 1), weights[1])
    for name in fused.layout.names:
        lo, hi = fused.layout.span(name)
        in_a, in_b = name in model_a.records, name in model_b.records
        if in_a != in_b:
            wa[lo:hi], wb[lo:hi] = float(in_a), float(in_b)
    with torch.no_grad():
        fused.head.a.copy_(model_a.head.weight * wa)
        fused.head.b.copy_(model_b.head.weight * wb)
    fused.cover(records)
    return fused
