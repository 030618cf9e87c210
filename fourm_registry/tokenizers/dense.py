"""The tokenizer of a dense (grid) modality: raw values ↔ h×w token grids through a VQ-VAE."""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .adapter import BadValueError, DenseAdapter, sample_label
from .vqconfig import VQVAEConfig
from .vqvae import VQVAE


class DenseTokenizer:
    """A VQ-VAE (or DiVAE) tokenizer for one grid modality."""

    def __init__(self, spec: Any, adapter: DenseAdapter, model: VQVAE, batch_size: int = 32):
        self.spec, self.adapter, self.model = spec, adapter, model.eval()
        self.batch_size = batch_size

    @property
    def vocab_size(self) -> int:
        return self.model.config.vocab_size

    @property
    def config(self) -> VQVAEConfig:
        return self.model.config

    @property
    def device(self) -> torch.device:
        return next(self.model.parameters()).device

    def to(self, device: Any) -> DenseTokenizer:
        self.model.to(device)
        return self

    # -- validation ----------------------------------------------------------------------
    def prepare(self, value: Any, key: Any = "?") -> np.ndarray:
        """Raw value → checked C×H×W float32 input; :class:`BadValueError` names the culprit."""
        name = self.spec.name
        try:
            x = np.asarray(self.adapter.to_input(value), dtype=np.float32)
            if x.ndim != 3 or x.shape[0] != self.config.in_channels:
                raise ValueError(f"expected {self.config.in_channels}×H×W input, got shape {x.shape}")
            ppt = self.config.pixels_per_token
            if x.shape[1] % ppt or x.shape[2] % ppt or x.shape[1] == 0 or x.shape[2] == 0:
                raise ValueError(f"size {x.shape[1]}×{x.shape[2]} is not a positive multiple of "
                                 f"the tokenizer's {ppt} pixels per token")
            if not np.isfinite(x).all():
                raise ValueError("contains NaN or infinite values")
        except BadValueError:
            raise
        except (ValueError, TypeError, IndexError) as exc:
            raise BadValueError(f"Modality {name!r}, sample {key}: {exc}") from exc
        return x

    def check_tokens(self, tokens: Any, key: Any = "?") -> np.ndarray:
        t = np.asarray(tokens)
        name = self.spec.name
        if t.ndim != 2 or not np.issubdtype(t.dtype, np.integer):
            raise BadValueError(f"Modality {name!r}, sample {key}: tokens must be an h×w integer "
                                f"array, got {t.dtype} of shape {t.shape}")
        if t.size and (t.min() < 0 or t.max() >= self.vocab_size):
            raise BadValueError(f"Modality {name!r}, sample {key}: token ids must lie in "
                                f"0..{self.vocab_size - 1}, got {t.min()}..{t.max()}")
        return t.astype(np.int64)

    # -- the tokenizer protocol ------------------------------------------------------------
    def encode(self, values: Sequence[Any], keys: Sequence[Any] | None = None) -> list[np.ndarray]:
        inputs = [self.prepare(v, sample_label(keys, i)) for i, v in enumerate(values)]
        return self.encode_prepared(inputs)

    def encode_prepared(self, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
        """Checked inputs (from :meth:`prepare`) → token grids; batches inputs of equal size."""
        out: list[np.ndarray | None] = [None] * len(inputs)
        for idx in _batches_by_shape([x.shape for x in inputs], self.batch_size):
            x = torch.from_numpy(np.stack([inputs[i] for i in idx])).to(self.device)
            codes = self.model.encode(x).cpu().numpy()
            for j, i in enumerate(idx):
                out[i] = codes[j]
        return out  # type: ignore[return-value]

    def decode(self, tokens: Sequence[Any], keys: Sequence[Any] | None = None,
               generator: torch.Generator | None = None) -> list[Any]:
        grids = [self.check_tokens(t, sample_label(keys, i)) for i, t in enumerate(tokens)]
        out: list[Any] = [None] * len(grids)
        for idx in _batches_by_shape([g.shape for g in grids], self.batch_size):
            ids = torch.from_numpy(np.stack([grids[i] for i in idx])).to(self.device)
            y = self.model.decode(ids, generator=generator).float().cpu().numpy()
            for j, i in enumerate(idx):
                out[i] = self.adapter.from_output(y[j])
        return out

    def decode_expected(self, probs: Any) -> list[Any]:
        """N×h×w×V code probabilities (a model's softmax per cell) → N raw values, each decoded
        from its cells' expected code vectors (:meth:`VQVAE.decode_expected`)."""
        p = torch.as_tensor(probs, dtype=torch.float32)
        if p.ndim != 4 or p.shape[-1] != self.vocab_size:
            raise ValueError(f"expected N×h×w×{self.vocab_size} code probabilities, got shape {tuple(p.shape)}")
        out: list[Any] = []
        for start in range(0, len(p), self.batch_size):
            y = self.model.decode_expected(p[start:start + self.batch_size].to(self.device)).float().cpu().numpy()
            out.extend(self.adapter.from_output(v) for v in y)
        return out

    def save_pretrained(self, path: str | Path) -> None:
        self.model.save_pretrained(path)


def _batches_by_shape(shapes: Sequence[tuple[int, ...]], size: int) -> list[list[int]]:
    groups: dict[tuple[int, ...], list[int]] = {}
    for i, s in enumerate(shapes):
        groups.setdefault(tuple(s), []).append(i)
    return [g[k:k + size] for g in groups.values() for k in range(0, len(g), size)]
