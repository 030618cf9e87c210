"""ViT encoder / decoder of the released 4M tokenizers (parameter names as in their checkpoints).

Tokens carry a frozen 2-D sin-cos position table built for one grid; other grids get it
resampled bicubically (PyTorch ``interpolate``, ``align_corners=False``), as 4M does when a
224-trained tokenizer runs at 448.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def sincos_table(h: int, w: int, dim: int, temperature: float = 10000.0) -> torch.Tensor:
    """The ``1×dim×h×w`` sin-cos table of the released tokenizers (MoCo-v3 layout)."""
    if dim % 4:
        raise ValueError(f"sin-cos position table needs a width divisible by 4, got {dim}")
    # 4M flattens an (w, h)-indexed grid and reads it back as (h, w): keep that order.
    gw, gh = torch.meshgrid(torch.arange(w, dtype=torch.float32), torch.arange(h, dtype=torch.float32),
                            indexing="ij")
    omega = 1.0 / temperature ** (torch.arange(dim // 4, dtype=torch.float32) / (dim // 4))
    ow, oh = gw.flatten()[:, None] * omega[None], gh.flatten()[:, None] * omega[None]
    table = torch.cat([ow.sin(), ow.cos(), oh.sin(), oh.cos()], dim=1)  # (h*w, dim)
    return table.T.reshape(1, dim, h, w).contiguous()


def resampled(table: torch.Tensor, h: int, w: int) -> torch.Tensor:
    """``table`` at an ``h×w`` grid (bicubic; the identity at the built size), as tokens ``1×hw×d``."""
    if tuple(table.shape[-2:]) != (h, w):
        table = F.interpolate(table, size=(h, w), mode="bicubic", align_corners=False)
    return table.flatten(2).transpose(1, 2)


class Mlp(nn.Module):
    def __init__(self, dim: int, hidden: int, act: type[nn.Module] = nn.GELU):
        super().__init__()
        self.fc1, self.act, self.fc2 = nn.Linear(dim, hidden), act(), nn.Linear(hidden, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.act(self.fc1(x)))


class Attention(nn.Module):
    def __init__(self, dim: int, heads: int):
        super().__init__()
        self.heads = heads
        self.qkv, self.proj = nn.Linear(dim, 3 * dim), nn.Linear(dim, dim)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, n, d = x.shape
        q, k, v = self.qkv(x).reshape(b, n, 3, self.heads, d // self.heads).permute(2, 0, 3, 1, 4)
        return self.proj(F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, d))


class Block(nn.Module):
    def __init__(self, dim: int, heads: int, hidden: int):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim, eps=1e-6), nn.LayerNorm(dim, eps=1e-6)
        self.attn, self.mlp = Attention(dim, heads), Mlp(dim, hidden)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.attn(self.norm1(x))
        return x + self.mlp(self.norm2(x))


class _Trunk(nn.Module):
    """Position table, blocks and the optional tanh ``post_mlp`` shared by encoder and decoder."""

    def __init__(self, dim: int, depth: int, heads: int, hidden: int, grid: tuple[int, int], post_mlp: bool):
        super().__init__()
        self.dim = dim
        self.pos_emb = nn.Parameter(sincos_table(*grid, dim), requires_grad=False)
        self.blocks = nn.Sequential(*[Block(dim, heads, hidden) for _ in range(depth)])
        if post_mlp:
            self.norm_mlp = nn.LayerNorm(dim, eps=1e-6)
            self.post_mlp = Mlp(dim, hidden, act=nn.Tanh)

    def run(self, tokens: torch.Tensor, h: int, w: int) -> torch.Tensor:
        x = self.blocks(tokens + resampled(self.pos_emb, h, w).to(tokens.dtype))
        if hasattr(self, "post_mlp"):
            x = x + self.post_mlp(self.norm_mlp(x))
        return x


class ViTEncoder(_Trunk):
    """``B×C×H×W`` image (or ``B×C×h×w`` feature map with ``patch_proj=False``) → ``B×dim×h×w``."""

    def __init__(self, in_channels: int, patch_size: int, dim: int, depth: int, heads: int, hidden: int,
                 grid: tuple[int, int], patch_proj: bool = True, post_mlp: bool = False):
        super().__init__(dim, depth, heads, hidden, grid, post_mlp)
        k = patch_size if patch_proj else 1
        self.proj = nn.Conv2d(in_channels, dim, kernel_size=k, stride=k)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.proj(x)
        h, w = x.shape[-2:]
        x = self.run(x.flatten(2).transpose(1, 2), h, w)
        return x.transpose(1, 2).reshape(x.shape[0], self.dim, h, w)


class ConvNeXtBlock(nn.Module):
    """The two output blocks of ``out_conv`` decoders (SAM instances): against patch seams."""

    def __init__(self, dim: int):
        super().__init__()
        self.dwconv = nn.Conv2d(dim, dim, kernel_size=7, padding=3, groups=dim)
        self.norm = nn.LayerNorm(dim, eps=1e-6)
        self.pwconv1, self.act, self.pwconv2 = nn.Linear(dim, 4 * dim), nn.GELU(), nn.Linear(4 * dim, dim)
        self.gamma = nn.Parameter(1e-6 * torch.ones(dim))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.pwconv2(self.act(self.pwconv1(self.norm(self.dwconv(x).permute(0, 2, 3, 1)))))
        return x + (self.gamma * y).permute(0, 3, 1, 2)


class ViTDecoder(_Trunk):
    """``B×dim×h×w`` → ``B×C×(h·p)×(w·p)`` (or ``B×C×h×w`` without patch projection)."""

    def __init__(self, out_channels: int, patch_size: int, dim: int, depth: int, heads: int, hidden: int,
                 grid: tuple[int, int], patch_proj: bool = True, post_mlp: bool = False,
                 out_conv: bool = False):
        super().__init__(dim, depth, heads, hidden, grid, post_mlp)
        self.out_channels, self.p = out_channels, patch_size if patch_proj else 1
        self.out_proj = nn.Linear(dim, out_channels * self.p * self.p)
        if out_conv:
            self.out_conv = nn.Sequential(ConvNeXtBlock(out_channels), ConvNeXtBlock(out_channels))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        y = self.out_proj(self.run(x.flatten(2).transpose(1, 2), h, w))
        p, c = self.p, self.out_channels
        # token (i, j) holds its patch as (c, ph, pw)
        y = y.reshape(b, h, w, c, p, p).permute(0, 3, 1, 4, 2, 5).reshape(b, c, h * p, w * p)
        return self.out_conv(y) if hasattr(self, "out_conv") else y
