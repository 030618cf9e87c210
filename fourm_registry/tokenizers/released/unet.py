"""The patched UNet of the released DiVAE tokenizers (guided-diffusion layout and key names).

The noisy image is folded into ``p×p`` patches (``b c (h p) (w p) -> b (c p p) h w``), the
quantised latents are nearest-upsampled to that grid and concatenated, and a UNet with
ResBlocks, legacy-order QKV attention at the chosen downsampling rates and a sinusoidal time
embedding predicts the (folded) output. diffusers' UNet blocks use other parameter names,
so the released weights need this layout.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import nn


@dataclass(frozen=True)
class UNetSize:
    patch_size: int = 4
    model_channels: int = 256
    num_res_blocks: int = 3
    channel_mult: tuple[int, ...] = (1, 2, 2, 2)
    attention_resolutions: tuple[int, ...] = (4, 8)
    num_heads: int = 1


def timestep_embedding(t: torch.Tensor, dim: int, max_period: float = 10000.0) -> torch.Tensor:
    half = dim // 2
    freqs = torch.exp(-math.log(max_period) * torch.arange(half, dtype=torch.float32, device=t.device) / half)
    args = t[:, None].float() * freqs[None]
    emb = torch.cat([args.cos(), args.sin()], dim=-1)
    return torch.cat([emb, torch.zeros_like(emb[:, :1])], dim=-1) if dim % 2 else emb


def _norm(ch: int) -> nn.GroupNorm:
    return nn.GroupNorm(32, ch)


class Step(nn.Sequential):
    """A sequence whose ResBlocks also take the time embedding."""

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        for layer in self:
            x = layer(x, emb) if isinstance(layer, ResBlock) else layer(x)
        return x


class ResBlock(nn.Module):
    def __init__(self, ch: int, emb_ch: int, out_ch: int | None = None):
        super().__init__()
        out_ch = out_ch or ch
        self.in_layers = nn.Sequential(_norm(ch), nn.SiLU(), nn.Conv2d(ch, out_ch, 3, padding=1))
        self.emb_layers = nn.Sequential(nn.SiLU(), nn.Linear(emb_ch, out_ch))
        self.out_layers = nn.Sequential(_norm(out_ch), nn.SiLU(), nn.Dropout(0.0),
                                        nn.Conv2d(out_ch, out_ch, 3, padding=1))
        self.skip_connection = nn.Identity() if out_ch == ch else nn.Conv2d(ch, out_ch, 1)

    def forward(self, x: torch.Tensor, emb: torch.Tensor) -> torch.Tensor:
        h = self.in_layers(x) + self.emb_layers(emb)[..., None, None]
        return self.skip_connection(x) + self.out_layers(h)


class AttentionBlock(nn.Module):
    def __init__(self, ch: int, heads: int = 1):
        super().__init__()
        self.heads = heads
        self.norm = _norm(ch)
        self.qkv, self.proj_out = nn.Conv1d(ch, 3 * ch, 1), nn.Conv1d(ch, ch, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, hh, ww = x.shape
        flat = x.reshape(b, c, -1)
        qkv = self.qkv(self.norm(flat))
        ch = c // self.heads
        # legacy order: heads first, then q/k/v within each head
        q, k, v = qkv.reshape(b * self.heads, 3 * ch, -1).split(ch, dim=1)
        a = F.scaled_dot_product_attention(q.transpose(1, 2), k.transpose(1, 2), v.transpose(1, 2))
        h = self.proj_out(a.transpose(1, 2).reshape(b, c, -1))
        return (flat + h).reshape(b, c, hh, ww)


class Downsample(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.op = nn.Conv2d(ch, ch, 3, stride=2, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.op(x)


class Upsample(nn.Module):
    def __init__(self, ch: int):
        super().__init__()
        self.conv = nn.Conv2d(ch, ch, 3, padding=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv(F.interpolate(x, scale_factor=2, mode="nearest"))


class PatchedUNet(nn.Module):
    """``(noisy B×C×H×W, t, latents B×D×h×w) -> B×C×H×W`` (the x0 estimate for ``predx0`` models)."""

    def __init__(self, channels: int, cond_channels: int, size: UNetSize):
        super().__init__()
        self.channels, self.size = channels, size
        p, mc = size.patch_size, size.model_channels
        emb = 4 * mc
        self.time_embed = nn.Sequential(nn.Linear(mc, emb), nn.SiLU(), nn.Linear(emb, emb))
        ch = int(size.channel_mult[0] * mc)
        self.input_blocks = nn.ModuleList([Step(nn.Conv2d(channels * p * p + cond_channels, ch, 3, padding=1))])
        skips, ds = [ch], 1
        for level, mult in enumerate(size.channel_mult):
            for _ in range(size.num_res_blocks):
                layers: list[nn.Module] = [ResBlock(ch, emb, int(mult * mc))]
                ch = int(mult * mc)
                if ds in size.attention_resolutions:
                    layers.append(AttentionBlock(ch, size.num_heads))
                self.input_blocks.append(Step(*layers))
                skips.append(ch)
            if level != len(size.channel_mult) - 1:
                self.input_blocks.append(Step(Downsample(ch)))
                skips.append(ch)
                ds *= 2
        self.middle_block = Step(ResBlock(ch, emb), AttentionBlock(ch, size.num_heads), ResBlock(ch, emb))
        self.output_blocks = nn.ModuleList()
        for level, mult in list(enumerate(size.channel_mult))[::-1]:
            for i in range(size.num_res_blocks + 1):
                layers = [ResBlock(ch + skips.pop(), emb, int(mc * mult))]
                ch = int(mc * mult)
                if ds in size.attention_resolutions:
                    layers.append(AttentionBlock(ch, size.num_heads))
                if level and i == size.num_res_blocks:
                    layers.append(Upsample(ch))
                    ds //= 2
                self.output_blocks.append(Step(*layers))
        self.out = nn.Sequential(_norm(ch), nn.SiLU(), nn.Conv2d(ch, channels * p * p, 3, padding=1))

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor | float,
                cond: torch.Tensor) -> torch.Tensor:
        b, c, hh, ww = sample.shape
        p = self.size.patch_size
        if hh % p or ww % p:
            raise ValueError(f"image size {hh}x{ww} is not a multiple of the UNet patch size {p}")
        nh, nw = hh // p, ww // p
        x = sample.reshape(b, c, nh, p, nw, p).permute(0, 1, 3, 5, 2, 4).reshape(b, c * p * p, nh, nw)
        x = torch.cat([x, F.interpolate(cond, (nh, nw), mode="nearest")], dim=1)
        t = torch.as_tensor(timestep, device=sample.device).reshape(-1)
        emb = self.time_embed(timestep_embedding(t, self.size.model_channels))
        hs = []
        for block in self.input_blocks:
            x = block(x, emb)
            hs.append(x)
        x = self.middle_block(x, emb)
        for block in self.output_blocks:
            x = block(torch.cat([x, hs.pop()], dim=1), emb)
        y = self.out(x)
        return y.reshape(b, c, p, p, nh, nw).permute(0, 1, 4, 2, 5, 3).reshape(b, c, hh, ww)


def infer_unet_size(state: dict[str, torch.Tensor], channels: int, cond_channels: int,
                    prefix: str = "decoder.", num_heads: int = 1) -> UNetSize:
    """The UNet's widths and layout, read from the shapes and names of its checkpoint."""
    mc = state[f"{prefix}time_embed.0.weight"].shape[1]
    in_ch = state[f"{prefix}input_blocks.0.0.weight"].shape[1]
    p = math.isqrt((in_ch - cond_channels) // channels)
    blocks = sorted({int(k[len(prefix) + 13:].split(".")[0]) for k in state if k.startswith(f"{prefix}input_blocks.")})
    mults: list[int] = []
    attn: set[int] = set()
    per_level: list[int] = [0]
    ds = 1
    for i in blocks[1:]:
        if f"{prefix}input_blocks.{i}.0.op.weight" in state:
            per_level.append(0)
            ds *= 2
            continue
        out_ch = state[f"{prefix}input_blocks.{i}.0.in_layers.2.weight"].shape[0]
        if per_level[-1] == 0:
            mults.append(out_ch // mc)
        per_level[-1] += 1
        if f"{prefix}input_blocks.{i}.1.qkv.weight" in state:
            attn.add(ds)
    return UNetSize(p, mc, per_level[0], tuple(mults), tuple(sorted(attn)), num_heads)


