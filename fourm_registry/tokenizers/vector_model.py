"""The MLP vector quantiser network (imports torch; see :mod:`.vector` for the tokenizer).

A bottleneck MLP maps one vector to ``num_tokens`` code vectors, each snapped to the core's
cosine codebook (:class:`.vq.CosineQuantizer`); a second MLP maps the codes back. Saved like
the VQ-VAE: ``config.json`` + ``model.safetensors``.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch
import torch.nn.functional as F
from safetensors.torch import load_file, save_file
from torch import nn

from ..errors import FourmError
from .vector_config import CONFIG_FILE, WEIGHTS_FILE, VectorVQConfig
from .vq import CosineQuantizer


def _mlp(n_in: int, hidden: int, n_out: int, depth: int) -> nn.Sequential:
    layers: list[nn.Module] = []
    width = n_in
    for _ in range(depth):
        layers += [nn.Linear(width, hidden), nn.LayerNorm(hidden), nn.GELU()]
        width = hidden
    layers.append(nn.Linear(width, n_out))
    return nn.Sequential(*layers)


class VectorVQ(nn.Module):
    """B×F vectors → B×T code indices → B×F reconstructions."""

    def __init__(self, config: VectorVQConfig):
        super().__init__()
        c = self.config = config
        self.encoder = _mlp(c.in_features, c.hidden, c.num_tokens * c.code_dim, c.depth)
        self.decoder = _mlp(c.num_tokens * c.code_dim, c.hidden, c.in_features, c.depth)
        self.quantizer = CosineQuantizer(c.vocab_size, c.code_dim, decay=c.ema_decay,
                                         commitment_weight=c.commitment_weight, c_replace=c.c_replace)
        self.register_buffer("mean", torch.zeros(c.in_features))
        self.register_buffer("std", torch.ones(c.in_features))

    def fit_normalisation(self, x: torch.Tensor) -> None:
        """Per-feature standardisation from a sample of training vectors."""
        self.mean.copy_(x.mean(0))
        self.std.copy_(x.std(0).clamp_min(1e-4) if x.shape[0] > 1 else torch.ones_like(self.std))

    def quantize(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, t, d = x.shape[0], self.config.num_tokens, self.config.code_dim
        z = self.encoder((x - self.mean) / self.std).reshape(b, t, d).permute(0, 2, 1)[..., None]
        z_q, idx, commit = self.quantizer(z)
        return z_q[..., 0].permute(0, 2, 1).reshape(b, t * d), idx[..., 0], commit

    def reconstruct(self, z_q: torch.Tensor) -> torch.Tensor:
        return self.decoder(z_q) * self.std + self.mean

    @torch.no_grad()
    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self.quantize(x)[1]

    @torch.no_grad()
    def decode(self, idx: torch.Tensor) -> torch.Tensor:
        z_q = F.embedding(idx, self.quantizer.embed).reshape(idx.shape[0], -1)
        return self.reconstruct(z_q)

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        z_q, idx, commit = self.quantize(x)
        recon = self.reconstruct(z_q)
        target, pred = (x - self.mean) / self.std, (recon - self.mean) / self.std
        if self.config.loss == "cosine":
            rec = (1 - F.cosine_similarity(recon, x, dim=-1)).mean()
        elif self.config.loss == "smooth_l1":
            rec = F.smooth_l1_loss(pred, target)
        else:
            rec = F.mse_loss(pred, target)
        return {"loss": rec + commit, "recon_loss": rec, "commit_loss": commit, "indices": idx,
                "recon": recon}

    def save_pretrained(self, path: str | Path) -> None:
        out = Path(path)
        out.mkdir(parents=True, exist_ok=True)
        (out / CONFIG_FILE).write_text(json.dumps(self.config.model_dump(), indent=2))
        save_file({k: v.detach().cpu().contiguous() for k, v in self.state_dict().items()},
                  str(out / WEIGHTS_FILE))

    @classmethod
    def from_pretrained(cls, path: str | Path) -> VectorVQ:
        p = Path(path)
        if not (p / CONFIG_FILE).is_file() or not (p / WEIGHTS_FILE).is_file():
            raise FourmError(f"{p} is not a saved vector tokenizer (needs {CONFIG_FILE} and {WEIGHTS_FILE}).")
        try:
            config = VectorVQConfig.model_validate(json.loads((p / CONFIG_FILE).read_text()))
        except Exception as exc:
            raise FourmError(f"Invalid vector tokenizer config in {p}: {exc}") from exc
        model = cls(config)
        model.load_state_dict(load_file(str(p / WEIGHTS_FILE)))
        return model.eval()
