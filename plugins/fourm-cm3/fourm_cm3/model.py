"""The CM3 decoder: one causal transformer over the unified token sequence, with a KV cache.

Pre-norm blocks (the core's self-attention and SwiGLU MLP), learned absolute positions, one
embedding table and one output head over the whole vocabulary. ``forward(batch)`` is the
causal LM loss on every real token of ``batch["ids"]`` (reported per modality through
``batch["segments"]``); ``logits(ids, cache)`` runs only the positions the cache lacks.
"""
from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from fourm_registry import FourmError
from fourm_registry.model import FourMConfig, KVCache
from fourm_registry.model.attention import SelfAttention
from fourm_registry.model.blocks import GatedMlp, make_norm

from .config import CM3Config
from .vocab import Layout

FORMAT, FAMILY = "fourm-cm3/1", "cm3"


@dataclass
class CM3Output:
    loss: torch.Tensor
    losses: dict[str, torch.Tensor] = field(default_factory=dict)


def window(ids: torch.Tensor, start: int, max_len: int) -> tuple[torch.Tensor, torch.Tensor]:
    """The ids from ``start`` on and their causal mask over all ``ids`` (the cache holds the rest)."""
    length = ids.shape[1]
    if length > max_len:
        raise FourmError(f"CM3: a sequence of {length} tokens is longer than the model's {max_len}.")
    q = torch.arange(start, length, device=ids.device)
    return ids[:, start:], (torch.arange(length, device=ids.device)[None, :] <= q[:, None])[None, None]


def lm_loss(logits: Any, layout: Layout, batch: dict[str, Any]) -> CM3Output:
    """The causal LM loss on every real token of ``batch["ids"]``, and per modality by ``segments``."""
    ids, valid = batch["ids"].inputs, batch["ids"].input_mask
    out = logits(ids[:, :-1])
    target, keep = ids[:, 1:], valid[:, 1:]
    per_token = F.cross_entropy(out.flatten(0, 1), target.flatten(), reduction="none").view_as(target)
    loss = (per_token * keep).sum() / keep.sum().clamp(min=1)
    losses = {}
    if "segments" in batch:
        seg = batch["segments"].inputs[:, 1:]
        for k, name in enumerate(layout.names):
            sel = keep & (seg == k)
            if bool(sel.any()):
                losses[name] = (per_token * sel).sum() / sel.sum()
    return CM3Output(loss, losses)


class Exportable:
    """``save_pretrained``/``from_pretrained`` (config.json + safetensors) for CM3 and its cross fusion."""

    FORMAT: str
    FAMILY: str
    CONFIG: type
    config: Any
    order: list[str]
    vocab: dict[str, dict[str, Any]]
    records: dict[str, dict[str, Any]]

    def save_pretrained(self, directory: str | os.PathLike) -> Path:
        from safetensors.torch import save_model

        out = Path(directory)
        out.mkdir(parents=True, exist_ok=True)
        config = {"format": self.FORMAT, "family": self.FAMILY, "model": self.config.model_dump(mode="json"),
                  "order": self.order, "vocab": self.vocab, "modalities": self.records}
        (out / "config.json").write_text(json.dumps(config, indent=2) + "\n")
        save_model(self, str(out / "model.safetensors"), metadata={"format": "pt"})  # type: ignore[arg-type]
        return out

    @classmethod
    def from_pretrained(cls, directory: str | os.PathLike, device: str = "cpu") -> Any:
        from safetensors.torch import load_model

        path = Path(directory)
        cfg_file = path / "config.json"
        if not cfg_file.is_file():
            raise FourmError(f"{path}: no config.json (expected a {cls.FAMILY} export directory).")
        config = json.loads(cfg_file.read_text())
        if config.get("format") != cls.FORMAT:
            raise FourmError(f"{path} is not a {cls.FAMILY} model (format {config.get('format')!r}).")
        model = cls(cls.CONFIG(**config["model"]), config["vocab"], config["order"], config["modalities"])
        missing, unexpected = load_model(model, str(path / "model.safetensors"), strict=False, device=device)
        if missing or unexpected:
            raise FourmError(f"{path}/model.safetensors does not match: missing {sorted(missing)[:3]}, "
                             f"unexpected {sorted(unexpected)[:3]}.")
        return model.to(device)


class Block(nn.Module):
    def __init__(self, cfg: FourMConfig):
        super().__init__()
        self.norm1 = make_norm(cfg)
        self.attn = SelfAttention(cfg.dim, cfg.num_heads, norm_kwargs={"eps": cfg.norm_eps, "bias": False})
        self.norm2 = make_norm(cfg)
        self.mlp = GatedMlp(cfg)

    def forward(self, x: torch.Tensor, mask: torch.Tensor, cache: KVCache | None = None) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), mask, cache)
        return x + self.mlp(self.norm2(x))


class CM3(Exportable, nn.Module):
    FORMAT, FAMILY, CONFIG = FORMAT, FAMILY, CM3Config

    def __init__(self, cfg: CM3Config, vocab: dict[str, dict[str, Any]], order: list[str],
                 modalities: dict[str, dict[str, Any]]):
        super().__init__()
        self.config, self.vocab, self.order = cfg, dict(vocab), list(order)
        self.records = dict(modalities)  # the modalities this model was trained on (merging reads them)
        self.layout = Layout(self.vocab, cfg.num_sentinels)
        self.max_len = self.layout.max_length(self.vocab_order(), cfg.max_spans)
        block_cfg = FourMConfig(dim=cfg.dim, encoder_depth=0, decoder_depth=0, num_heads=cfg.num_heads,
                                mlp_ratio=cfg.mlp_ratio, norm_eps=cfg.norm_eps)
        self.tok_emb = nn.Embedding(self.layout.size, cfg.dim)
        self.pos_emb = nn.Parameter(torch.zeros(1, self.max_len, cfg.dim))
        self.blocks = nn.ModuleList([Block(block_cfg) for _ in range(cfg.depth)])
        self.norm = make_norm(block_cfg)
        self.head = nn.Linear(cfg.dim, self.layout.size, bias=False)
        for module in self.modules():
            if isinstance(module, nn.Linear):
                bound = math.sqrt(6.0 / sum(module.weight.shape))
                nn.init.uniform_(module.weight, -bound, bound)
        nn.init.normal_(self.tok_emb.weight, std=cfg.init_std)
        nn.init.normal_(self.pos_emb, std=cfg.init_std)

    def vocab_order(self) -> list[str]:
        """Every vocabulary modality in sequence order (the longest sequence the positions must hold)."""
        return [*self.order, *(n for n in self.vocab if n not in self.order)]

    def modality_rows(self) -> dict[str, dict[str, tuple[int, int]]]:
        """The rows of each modality's ids in the embedding table and the head (what merging keeps apart)."""
        spans = {n: self.layout.span(n) for n in self.layout.names}
        return {"tok_emb.weight": spans, "head.weight": spans}

    def cover(self, records: dict[str, dict[str, Any]]) -> None:
        """Record that this model now covers ``records`` (a merge of parents trained on different ones)."""
        self.records = dict(records)
        self.order = [n for n in (self.config.order or self.vocab) if n in self.records]

    def widened(self) -> CM3:
        """A fresh model of twice the width and heads (MLP twice as wide): what JAM-Width fills."""
        hidden = 2 * self.blocks[0].mlp.fc1.out_features
        dim = 2 * self.config.dim
        ratio = -(-3 * hidden // 2) / dim  # SwiGLU: int(2·int(dim·ratio)/3) == hidden
        cfg = self.config.model_copy(update={"dim": dim, "num_heads": 2 * self.config.num_heads, "mlp_ratio": ratio})
        wide = CM3(CM3Config(**cfg.model_dump()), self.vocab, self.order, self.records)
        if wide.blocks[0].mlp.fc1.out_features != hidden:
            raise FourmError(f"CM3: no mlp_ratio gives an MLP of width {hidden} at dim {dim}.")
        return wide

    def new_cache(self) -> list[KVCache]:
        return [KVCache() for _ in self.blocks]

    def logits(self, ids: torch.Tensor, cache: list[KVCache] | None = None) -> torch.Tensor:
        """``B×L'×V`` next-token logits for the positions of ``ids`` not yet in ``cache``."""
        start = cache[0].length if cache else 0
        new, mask = window(ids, start, self.max_len)
        h = self.tok_emb(new) + self.pos_emb[:, start:ids.shape[1]]
        for i, blk in enumerate(self.blocks):
            h = blk(h, mask, cache[i] if cache else None)
        return self.head(self.norm(h))

    def forward(self, batch: dict[str, Any]) -> CM3Output:
        return lm_loss(self.logits, self.layout, batch)

