"""Pre-norm transformer blocks with 4M's parameter names.

Encoder block: ``x + attn(norm1 x)``, then ``x + mlp(norm2 x)``. Decoder block adds a
cross-attention between them with separate query and context norms
(``query_norm``, ``context_norm``). SwiGLU MLPs are ``fc2(act(fc1 x) * fc3 x)``.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import torch
from torch import nn

from .attention import CrossAttention, KVCache, SelfAttention
from .config import FourMConfig


def make_norm(cfg: FourMConfig, dim: int | None = None) -> nn.LayerNorm:
    return nn.LayerNorm(dim or cfg.dim, eps=cfg.norm_eps, bias=cfg.norm_bias)


def _act(cfg: FourMConfig) -> nn.Module:
    return nn.SiLU() if cfg.act == "silu" else nn.GELU()


class Mlp(nn.Module):
    def __init__(self, cfg: FourMConfig):
        super().__init__()
        self.fc1 = nn.Linear(cfg.dim, cfg.mlp_hidden, bias=cfg.mlp_bias)
        self.act = _act(cfg)
        self.fc2 = nn.Linear(cfg.mlp_hidden, cfg.dim, bias=cfg.mlp_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class GatedMlp(Mlp):
    """SwiGLU (or another gated unit): ``fc1`` is the gate, ``fc3`` the value branch."""

    def __init__(self, cfg: FourMConfig):
        super().__init__(cfg)
        self.fc3 = nn.Linear(cfg.dim, cfg.mlp_hidden, bias=cfg.mlp_bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)) * self.fc3(x))


def _attn_kwargs(cfg: FourMConfig) -> dict:
    return {"qkv_bias": cfg.qkv_bias, "proj_bias": cfg.proj_bias, "qk_norm": cfg.qk_norm,
            "norm_kwargs": {"eps": cfg.norm_eps, "bias": cfg.norm_bias}, "impl": cfg.attention}


class EncoderBlock(nn.Module):
    def __init__(self, cfg: FourMConfig):
        super().__init__()
        self.norm1 = make_norm(cfg)
        self.attn = SelfAttention(cfg.dim, cfg.num_heads, **_attn_kwargs(cfg))
        self.norm2 = make_norm(cfg)
        self.mlp = GatedMlp(cfg) if cfg.gated_mlp else Mlp(cfg)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        x = x + self.attn(self.norm1(x), mask)
        return x + self.mlp(self.norm2(x))


@dataclass
class LayerCache:
    """One decoder layer's cached self-attention keys/values and projected context."""

    self_attn: KVCache = field(default_factory=KVCache)
    cross_attn: KVCache = field(default_factory=KVCache)


class DecoderBlock(nn.Module):
    def __init__(self, cfg: FourMConfig):
        super().__init__()
        self.norm1 = make_norm(cfg)
        self.self_attn = SelfAttention(cfg.dim, cfg.num_heads, **_attn_kwargs(cfg))
        self.query_norm = make_norm(cfg)
        self.context_norm = make_norm(cfg)
        self.cross_attn = CrossAttention(cfg.dim, cfg.num_heads, **_attn_kwargs(cfg))
        self.norm2 = make_norm(cfg)
        self.mlp = GatedMlp(cfg) if cfg.gated_mlp else Mlp(cfg)

    def forward(self, x: torch.Tensor, context: torch.Tensor, self_mask: torch.Tensor | None = None,
                cross_mask: torch.Tensor | None = None, cache: LayerCache | None = None) -> torch.Tensor:
        sa_cache = cache.self_attn if cache is not None else None
        xa_cache = cache.cross_attn if cache is not None else None
        x = x + self.self_attn(self.norm1(x), self_mask, sa_cache)
        # The context norm is skipped when the cache already holds the projected context.
        ctx = context if xa_cache is not None and xa_cache.k is not None else self.context_norm(context)
        x = x + self.cross_attn(self.query_norm(x), ctx, cross_mask, xa_cache)
        return x + self.mlp(self.norm2(x))


def compile_blocks(model: nn.Module, **kwargs: object) -> int:
    """``torch.compile`` every encoder/decoder block in place; returns how many.

    Blocks, not the whole model: packing and masking select tokens with data-dependent
    shapes, which would break the graph, while a block is the same few ops every call.
    In-place compilation keeps parameter names, so checkpoints are unchanged.
    """
    blocks = [b for attr in ("encoder", "decoder") if isinstance(getattr(model, attr, None), nn.ModuleList)
              for b in getattr(model, attr)]
    for block in blocks:
        block.compile(**kwargs)
    return len(blocks)
