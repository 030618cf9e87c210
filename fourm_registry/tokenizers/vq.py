"""Cosine-similarity vector quantiser with EMA codebook updates and dead-code replacement.

Codes and encoder outputs are L2-normalised low-dimensional vectors (4M: 32-d); the nearest
code is the one of highest cosine similarity. The codebook follows an exponential moving
average of the vectors assigned to each code (decay 0.99), the encoder is pulled towards
its codes by a commitment loss, and after every training step codes whose EMA usage count
is below ``T = B·N_tokens / (c_replace · N_vocab)`` are replaced by random encoder outputs
of the batch. Under ``torch.distributed`` the statistics are summed over ranks and rank 0's
replacements are broadcast, so every rank keeps the same codebook.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def _dist() -> bool:
    return torch.distributed.is_available() and torch.distributed.is_initialized()


class CosineQuantizer(nn.Module):
    """``forward(z: B×D×h×w) -> (z_q straight-through, indices B×h×w, commitment loss)``."""

    def __init__(self, vocab_size: int, dim: int = 32, decay: float = 0.99,
                 commitment_weight: float = 1.0, c_replace: float = 32.0, replace_dead_codes: bool = True):
        super().__init__()
        self.vocab_size, self.dim, self.decay = vocab_size, dim, decay
        self.commitment_weight, self.c_replace = commitment_weight, c_replace
        self.replace_dead_codes = replace_dead_codes
        embed = F.normalize(torch.randn(vocab_size, dim), dim=-1)
        self.register_buffer("embed", embed)
        self.register_buffer("embed_avg", embed.clone())
        self.register_buffer("cluster_size", torch.zeros(vocab_size))
        # Hits since the last reset_usage(): what training reports as codebook usage.
        self.register_buffer("usage", torch.zeros(vocab_size), persistent=False)
        self.last_replaced = 0

    # -- lookup --------------------------------------------------------------------
    def nearest(self, z: torch.Tensor) -> torch.Tensor:
        """Normalised N×D vectors → N code indices (highest cosine similarity)."""
        return (z @ self.embed.t()).argmax(dim=-1)

    def lookup(self, indices: torch.Tensor) -> torch.Tensor:
        """B×h×w indices → B×D×h×w unit code vectors."""
        return F.embedding(indices, self.embed).permute(0, 3, 1, 2).contiguous()

    def expected(self, probs: torch.Tensor) -> torch.Tensor:
        """B×h×w×V code probabilities → B×D×h×w: per cell the probability-weighted mean of the
        code vectors, renormalised to the unit sphere the codes (and so the decoder's inputs) lie on."""
        z = F.normalize(probs.float() @ self.embed, dim=-1)
        return z.permute(0, 3, 1, 2).contiguous()

    def forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Always in fp32, also under autocast: a bf16 similarity would flip near-tied codes."""
        with torch.autocast(z.device.type, enabled=False):
            return self._forward(z)

    def _forward(self, z: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, d, h, w = z.shape
        flat = F.normalize(z.float().permute(0, 2, 3, 1).reshape(-1, d), dim=-1)
        idx = self.nearest(flat)
        quant = F.embedding(idx, self.embed)
        if self.training:
            self._ema_update(flat.detach(), idx)
            self.usage += torch.bincount(idx, minlength=self.vocab_size).to(self.usage)
        loss = self.commitment_weight * F.mse_loss(flat, quant.detach())
        quant = flat + (quant - flat).detach()  # straight-through estimator
        z_q = quant.reshape(b, h, w, d).permute(0, 3, 1, 2).contiguous()
        return z_q.to(z.dtype), idx.reshape(b, h, w), loss

    # -- training-time codebook updates -----------------------------------------------
    @torch.no_grad()
    def _ema_update(self, flat: torch.Tensor, idx: torch.Tensor) -> None:
        onehot = F.one_hot(idx, self.vocab_size).type(flat.dtype)
        counts, sums = onehot.sum(0), onehot.t() @ flat
        n_vectors = torch.tensor(float(flat.shape[0]), device=flat.device)
        if _dist():
            for t in (counts, sums, n_vectors):
                torch.distributed.all_reduce(t)
        self.cluster_size.mul_(self.decay).add_(counts, alpha=1 - self.decay)
        self.embed_avg.mul_(self.decay).add_(sums, alpha=1 - self.decay)
        norms = self.embed_avg.norm(dim=-1, keepdim=True)
        self.embed.copy_(torch.where(norms > 1e-8, self.embed_avg / norms.clamp_min(1e-8), self.embed))
        if self.replace_dead_codes:
            self._replace(flat, float(n_vectors))

    @torch.no_grad()
    def _replace(self, flat: torch.Tensor, n_vectors: float) -> None:
        threshold = n_vectors / (self.c_replace * self.vocab_size)
        dead = self.cluster_size < threshold
        self.last_replaced = int(dead.sum())
        if self.last_replaced == 0:
            return
        picks = torch.randint(0, flat.shape[0], (self.last_replaced,), device=flat.device)
        self.embed[dead] = flat[picks]
        self.embed_avg[dead] = flat[picks] * threshold
        self.cluster_size[dead] = threshold
        if _dist():
            for t in (self.embed, self.embed_avg, self.cluster_size):
                torch.distributed.broadcast(t, src=0)

    def reset_usage(self) -> None:
        self.usage.zero_()

    def usage_fraction(self) -> float:
        """Share of codes hit since the last :meth:`reset_usage` (0…1)."""
        return float((self.usage > 0).float().mean())
