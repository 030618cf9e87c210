"""Multi-head self- and cross-attention through ``scaled_dot_product_attention``.

Masks are boolean and say where a query MAY attend (True = take part), shaped to broadcast
to ``B×heads×Nq×Nk``; ``None`` means no mask, which lets SDPA pick its fastest kernel.
Parameter names (``qkv``, ``q``, ``kv``, ``proj``, ``q_norm``, ``k_norm``) follow 4M's
checkpoints. A :class:`KVCache` lets a decoder process one new token at a time.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


def attend(q: torch.Tensor, k: torch.Tensor, v: torch.Tensor, mask: torch.Tensor | None,
           impl: str = "sdpa") -> torch.Tensor:
    """``softmax(q kᵀ / √d + mask) v`` for ``B×H×N×d`` tensors; ``impl="math"`` spells it out.

    Under CPU bf16 autocast SDPA runs in fp32: torch's CPU flash-attention backward is 2.5×
    slower in bf16 than in fp32 (measured at the demo's sizes), while the linear layers around
    it gain 2.3× (``benchmarks/bench_autocast.py``)."""
    if impl == "sdpa":
        if q.dtype == torch.bfloat16 and q.device.type == "cpu" and torch.is_autocast_enabled("cpu"):
            with torch.autocast("cpu", enabled=False):
                out = F.scaled_dot_product_attention(q.float(), k.float(), v.float(), attn_mask=mask)
            return out.to(q.dtype)
        return F.scaled_dot_product_attention(q, k, v, attn_mask=mask)
    scores = (q @ k.transpose(-2, -1)) * q.shape[-1] ** -0.5
    if mask is not None:
        scores = scores.masked_fill(~mask, torch.finfo(scores.dtype).min)
    return scores.softmax(dim=-1) @ v


@dataclass
class KVCache:
    """Keys and values of earlier positions (self-attention) or of the context (cross-attention)."""

    k: torch.Tensor | None = None
    v: torch.Tensor | None = None

    @property
    def length(self) -> int:
        return 0 if self.k is None else self.k.shape[-2]

    def append(self, k: torch.Tensor, v: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        self.k = k if self.k is None else torch.cat([self.k, k], dim=-2)
        self.v = v if self.v is None else torch.cat([self.v, v], dim=-2)
        return self.k, self.v


def _heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    b, n, c = x.shape
    return x.view(b, n, num_heads, c // num_heads).transpose(1, 2)


def _merge(x: torch.Tensor) -> torch.Tensor:
    b, h, n, d = x.shape
    return x.transpose(1, 2).reshape(b, n, h * d)


def _qk_norm(head_dim: int, enabled: bool, norm_kwargs: dict | None) -> nn.Module:
    """Per-head LayerNorm of queries or keys (QK-norm), or nothing."""
    return nn.LayerNorm(head_dim, **(norm_kwargs or {})) if enabled else nn.Identity()


class SelfAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int, *, qkv_bias: bool = False, proj_bias: bool = False,
                 qk_norm: bool = False, norm_kwargs: dict | None = None, impl: str = "sdpa"):
        super().__init__()
        self.num_heads, self.impl = num_heads, impl
        self.qkv = nn.Linear(dim, 3 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim, bias=proj_bias)
        self.q_norm = _qk_norm(dim // num_heads, qk_norm, norm_kwargs)
        self.k_norm = _qk_norm(dim // num_heads, qk_norm, norm_kwargs)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None,
                cache: KVCache | None = None) -> torch.Tensor:
        b, n, c = x.shape
        qkv = self.qkv(x).view(b, n, 3, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
        q, k, v = qkv.unbind(0)
        q, k = self.q_norm(q), self.k_norm(k)
        if cache is not None:
            k, v = cache.append(k, v)
        return self.proj(_merge(attend(q, k, v, mask, self.impl)))


class CrossAttention(nn.Module):
    def __init__(self, dim: int, num_heads: int, *, qkv_bias: bool = False, proj_bias: bool = False,
                 qk_norm: bool = False, norm_kwargs: dict | None = None, impl: str = "sdpa"):
        super().__init__()
        self.num_heads, self.impl = num_heads, impl
        self.q = nn.Linear(dim, dim, bias=qkv_bias)
        self.kv = nn.Linear(dim, 2 * dim, bias=qkv_bias)
        self.proj = nn.Linear(dim, dim, bias=proj_bias)
        self.q_norm = _qk_norm(dim // num_heads, qk_norm, norm_kwargs)
        self.k_norm = _qk_norm(dim // num_heads, qk_norm, norm_kwargs)

    def forward(self, x: torch.Tensor, context: torch.Tensor, mask: torch.Tensor | None = None,
                cache: KVCache | None = None) -> torch.Tensor:
        q = self.q_norm(_heads(self.q(x), self.num_heads))
        if cache is not None and cache.k is not None:  # the context does not change while decoding
            k, v = cache.k, cache.v
        else:
            b, m, c = context.shape
            kv = self.kv(context).view(b, m, 2, self.num_heads, c // self.num_heads).permute(2, 0, 3, 1, 4)
            k, v = kv.unbind(0)
            k = self.k_norm(k)
            if cache is not None:
                cache.append(k, v)
        return self.proj(_merge(attend(q, k, v, mask, self.impl)))
