"""The two quantisers of the released 4M tokenizers, with their checkpoint layout.

* :class:`LucidQuantizer` (``quant_type: lucid``): the nearest code is found by cosine
  similarity of the normalised latent and the normalised codebook, but the quantised latent
  is the *raw* codebook row. Trained by EMA with dead-code replacement (``quantize._codebook``).
* :class:`Memcodes` (``quant_type: memcodes``): ``heads`` codebooks read by attention; one
  token per head.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class Quantized(tuple):
    """``(quant, code_loss, tokens, margin)``; ``margin`` = top-1 minus top-2 score per token."""

    @property
    def quant(self) -> torch.Tensor:
        return self[0]

    @property
    def tokens(self) -> torch.Tensor:
        return self[2]


def _margin(scores: torch.Tensor) -> torch.Tensor:
    top = scores.topk(2, dim=-1).values if scores.shape[-1] > 1 else torch.cat([scores, scores], -1)
    return top[..., 0] - top[..., 1]


class CosineCodebook(nn.Module):
    """The EMA codebook buffers (``embed``, ``cluster_size``, ``initted``) and their update."""

    def __init__(self, size: int, dim: int, decay: float = 0.99, dead_threshold: float = 0.25):
        super().__init__()
        self.decay, self.dead_threshold = decay, dead_threshold
        self.last_replaced = 0  # dead codes replaced by the last update
        embed = F.normalize(nn.init.kaiming_uniform_(torch.empty(size, dim)), dim=-1)
        self.register_buffer("initted", torch.ones(1))
        self.register_buffer("cluster_size", torch.zeros(size))
        self.register_buffer("embed", embed)

    @torch.no_grad()
    def update(self, flat_normed: torch.Tensor, idx: torch.Tensor, samples: torch.Tensor) -> None:
        """One EMA step towards the mean of the normalised latents each code won; dead codes
        (EMA count under the threshold) are replaced by random normalised batch latents."""
        onehot = F.one_hot(idx, self.embed.shape[0]).to(flat_normed.dtype)
        bins = onehot.sum(0)
        self.cluster_size.lerp_(bins, 1 - self.decay)
        empty = bins == 0
        means = F.normalize((flat_normed.T @ onehot / bins.masked_fill(empty, 1)).T, dim=-1)
        target = torch.where(empty[:, None], F.normalize(self.embed, dim=-1), means)
        self.embed.lerp_(target, 1 - self.decay)
        dead = self.cluster_size < self.dead_threshold
        self.last_replaced = int(dead.sum()) if self.dead_threshold > 0 else 0
        if self.last_replaced:
            pool = F.normalize(samples, dim=-1)
            n = int(dead.sum())
            pick = torch.randperm(pool.shape[0], device=pool.device)[:n] if pool.shape[0] >= n else \
                torch.randint(0, pool.shape[0], (n,), device=pool.device)
            self.embed[dead] = pool[pick]


class LucidQuantizer(nn.Module):
    """Cosine-similarity VQ on ``B×D×h×w`` latents; tokens ``B×h×w``."""

    def __init__(self, size: int, dim: int, decay: float = 0.99, commitment_weight: float = 1.0,
                 dead_threshold: float = 0.25):
        super().__init__()
        self.commitment_weight = commitment_weight
        self._codebook = CosineCodebook(size, dim, decay, dead_threshold)

    @property
    def codebook(self) -> torch.Tensor:
        return self._codebook.embed

    def forward(self, z: torch.Tensor) -> Quantized:
        b, d, h, w = z.shape
        flat = z.float().permute(0, 2, 3, 1).reshape(-1, d)
        normed = F.normalize(flat, dim=-1)
        scores = normed @ F.normalize(self.codebook, dim=-1).T
        idx = scores.argmax(dim=-1)
        quant = F.embedding(idx, self.codebook)  # raw rows, not normalised
        loss = z.new_zeros(())
        if self.training:
            self._codebook.update(normed, idx, flat)
            loss = self.commitment_weight * F.mse_loss(quant, flat)
            quant = flat + (quant - flat).detach()
        quant = quant.reshape(b, h, w, d).permute(0, 3, 1, 2).to(z.dtype)
        return Quantized((quant, loss, idx.reshape(b, h, w), _margin(scores).reshape(b, h, w)))

    def lookup(self, tokens: torch.Tensor) -> torch.Tensor:
        """``B×h×w`` token ids → ``B×D×h×w`` raw codebook rows."""
        return F.embedding(tokens, self.codebook).permute(0, 3, 1, 2)


class HeadMix(nn.Module):
    """Per-head linear map without bias, weight ``heads×d_in×d_out`` (an einops ``EinMix`` layout)."""

    def __init__(self, heads: int, d_in: int, d_out: int):
        super().__init__()
        self.weight = nn.Parameter(torch.empty(heads, d_in, d_out))
        nn.init.uniform_(self.weight, -d_in ** -0.5, d_in ** -0.5)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.einsum("hnd,hdc->hnc", x, self.weight)


class Memcodes(nn.Module):
    """Attention over ``heads`` codebooks on ``B×D×h×w`` latents; tokens ``B×heads×h×w``."""

    def __init__(self, dim: int, size: int, heads: int = 1, temperature: float = 1.0):
        super().__init__()
        if dim % heads:
            raise ValueError(f"latent width {dim} is not divisible by {heads} codebooks")
        self.heads, self.temperature, self.size = heads, temperature, size
        self.scale = (dim // heads) ** -0.5
        d = dim // heads
        self.codes = nn.Parameter(torch.randn(heads, size, d))
        self.to_k, self.to_v = HeadMix(heads, d, d), HeadMix(heads, d, d)

    def forward(self, z: torch.Tensor) -> Quantized:
        b, dim, h, w = z.shape
        q = z.flatten(2).transpose(1, 2).reshape(b, h * w, self.heads, -1).transpose(1, 2) * self.scale
        logits = torch.einsum("bhid,hjd->bhij", q, self.to_k(self.codes))
        if self.training:
            attn = F.gumbel_softmax(logits, tau=self.temperature, dim=-1, hard=True)
            idx = attn.argmax(dim=-1)
        else:
            idx = logits.argmax(dim=-1)
            attn = F.one_hot(idx, self.size).to(logits.dtype)
        out = torch.einsum("bhij,hjd->bhid", attn, self.to_v(self.codes))
        quant = out.transpose(1, 2).reshape(b, h * w, dim).transpose(1, 2).reshape(b, dim, h, w)
        tokens = idx.reshape(b, self.heads, h, w)
        return Quantized((quant, z.new_zeros(()), tokens, _margin(logits).reshape(b, self.heads, h, w)))

    def lookup(self, tokens: torch.Tensor) -> torch.Tensor:
        """``B×heads×h×w`` token ids → ``B×D×h×w`` latents (heads concatenated)."""
        b, heads, h, w = tokens.shape
        values = self.to_v(self.codes)  # heads × size × d
        rows = torch.stack([values[i][tokens[:, i]] for i in range(heads)], dim=1)  # b heads h w d
        return rows.permute(0, 1, 4, 2, 3).reshape(b, -1, h, w)
