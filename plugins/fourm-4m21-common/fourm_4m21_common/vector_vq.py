"""An MLP vector quantiser: one fixed-length vector ↔ a few discrete tokens.

4M-21 tokenises global embeddings (DINOv2/ImageBind) and SMPL body poses this way: a
bottleneck MLP maps the vector to ``num_tokens`` code vectors, each snapped to the core's
cosine codebook (:class:`fourm_registry.tokenizers.vq.CosineQuantizer`), and a second MLP
maps the codes back. Saved like the core's VQ-VAE: ``config.json`` + ``model.safetensors``.
"""
from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal

import numpy as np
import torch
import torch.nn.functional as F
from pydantic import Field
from safetensors.torch import load_file, save_file
from torch import nn

from fourm_registry.config import StrictModel
from fourm_registry.errors import FourmError
from fourm_registry.tokenizers.vq import CosineQuantizer

CONFIG_FILE, WEIGHTS_FILE = "config.json", "model.safetensors"


class VectorVQConfig(StrictModel):
    """Everything needed to rebuild a :class:`VectorVQ`."""

    kind: Literal["vector_vq"] = "vector_vq"
    modality: str = ""
    in_features: int = Field(gt=0)
    num_tokens: int = Field(gt=0)
    vocab_size: int = Field(gt=1)
    code_dim: int = Field(default=32, gt=0)
    hidden: int = Field(default=512, gt=0)
    depth: int = Field(default=2, ge=1)
    loss: Literal["mse", "smooth_l1", "cosine"] = "mse"
    commitment_weight: float = Field(default=1.0, ge=0)
    ema_decay: float = Field(default=0.99, gt=0, lt=1)
    c_replace: float = Field(default=32.0, gt=0)


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


class VectorTokenizer:
    """A modality tokenizer over :class:`VectorVQ`; ``to_vector``/``from_vector`` adapt raw values."""

    def __init__(self, model: VectorVQ, to_vector: Callable[[Any], np.ndarray],
                 from_vector: Callable[[np.ndarray], Any], shape: tuple[int, ...] | None = None):
        self.model, self.to_vector, self.from_vector = model.eval(), to_vector, from_vector
        self.shape = shape or (model.config.num_tokens,)
        if int(np.prod(self.shape)) != model.config.num_tokens:
            raise FourmError(f"token shape {self.shape} does not hold {model.config.num_tokens} tokens")

    @property
    def vocab_size(self) -> int:
        return self.model.config.vocab_size

    def vectors(self, values: Sequence[Any]) -> torch.Tensor:
        name, n = self.model.config.modality or "vector", self.model.config.in_features
        rows = []
        for i, v in enumerate(values):
            try:
                x = np.asarray(self.to_vector(v), dtype=np.float32).reshape(-1)
            except (ValueError, TypeError, KeyError) as exc:
                raise FourmError(f"Modality {name!r}, value #{i}: {exc}") from exc
            if x.shape != (n,) or not np.isfinite(x).all():
                raise FourmError(f"Modality {name!r}, value #{i}: expected {n} finite numbers, "
                                 f"got shape {x.shape}")
            rows.append(x)
        return torch.from_numpy(np.stack(rows)) if rows else torch.zeros(0, n)

    def encode(self, values: Sequence[Any]) -> list[np.ndarray]:
        if not len(values):
            return []
        idx = self.model.encode(self.vectors(values)).numpy().astype(np.int64)
        return [row.reshape(self.shape) for row in idx]

    def decode(self, tokens: Sequence[Any]) -> list[Any]:
        if not len(tokens):
            return []
        ids = np.stack([np.asarray(t, dtype=np.int64).reshape(-1) for t in tokens])
        if ids.shape[1] != self.model.config.num_tokens or ids.min() < 0 or ids.max() >= self.vocab_size:
            raise FourmError(f"Modality {self.model.config.modality!r}: expected "
                             f"{self.model.config.num_tokens} ids in 0..{self.vocab_size - 1} per value")
        out = self.model.decode(torch.from_numpy(ids)).numpy()
        return [self.from_vector(row) for row in out]

    def fit(self, values: Sequence[Any], steps: int = 300, lr: float = 1e-3, batch_size: int = 64,
            seed: int = 0) -> list[float]:
        """Train on ``values`` (a quick AdamW loop); returns the loss of every step."""
        torch.manual_seed(seed)
        x = self.vectors(values)
        self.model.fit_normalisation(x)
        opt = torch.optim.AdamW(self.model.parameters(), lr=lr, weight_decay=0.0)
        losses = []
        self.model.train()
        for _ in range(steps):
            batch = x[torch.randint(0, x.shape[0], (min(batch_size, x.shape[0]),))]
            loss = self.model(batch)["loss"]
            opt.zero_grad()
            loss.backward()
            opt.step()
            losses.append(loss.item())
        self.model.eval()
        return losses

    def save_pretrained(self, path: str | Path) -> None:
        self.model.save_pretrained(path)


class VectorTokenizerFactory:
    """``TokenizerSpec.factory`` for modalities whose raw value is one fixed-length vector.

    ``in_features`` is a number or ``spec -> number`` (e.g. read from ``spec.extras``);
    tokens take the spec's grid shape (or ``num_tokens`` when the spec has none).
    """

    def __init__(self, to_vector: Callable[[Any], np.ndarray], from_vector: Callable[[np.ndarray], Any],
                 in_features: int | Callable[[Any], int], **defaults: Any):
        self.to_vector, self.from_vector = to_vector, from_vector
        self._in_features, self.defaults = in_features, defaults

    def config(self, spec: Any, **overrides: Any) -> VectorVQConfig:
        n = self._in_features(spec) if callable(self._in_features) else self._in_features
        return VectorVQConfig(modality=spec.name, in_features=n, num_tokens=spec.num_tokens,
                              vocab_size=spec.tokenizer.vocab_size, **{**self.defaults, **overrides})

    def _shape(self, spec: Any) -> tuple[int, ...]:
        return tuple(spec.tokenizer.grid) if spec.tokenizer.grid else (spec.num_tokens,)

    def fresh(self, spec: Any, **overrides: Any) -> VectorTokenizer:
        model = VectorVQ(self.config(spec, **overrides))
        return VectorTokenizer(model, self.to_vector, self.from_vector, self._shape(spec))

    def __call__(self, spec: Any, path: str | Path | None = None) -> VectorTokenizer:
        if path is None:
            return self.fresh(spec)
        model = VectorVQ.from_pretrained(path)
        c = model.config
        if c.modality and c.modality != spec.name:
            raise FourmError(f"{path} holds a tokenizer for {c.modality!r}, not {spec.name!r}.")
        if c.vocab_size > spec.tokenizer.vocab_size or c.num_tokens != spec.num_tokens:
            raise FourmError(f"Modality {spec.name!r}: the tokenizer at {path} gives {c.num_tokens} "
                             f"tokens of {c.vocab_size} codes; the modality declares {spec.num_tokens} "
                             f"tokens of {spec.tokenizer.vocab_size}.")
        return VectorTokenizer(model, self.to_vector, self.from_vector, self._shape(spec))
