"""The MLP vector quantiser as a modality tokenizer: one fixed-length vector ↔ a few tokens.

For modalities whose raw value is one vector (a global image embedding, a body pose): set
``TokenizerSpec(factory=VectorTokenizerFactory(to_vector, from_vector, in_features))``.
4M-21 tokenises global embeddings and poses this way. Nothing here imports torch until a
tokenizer is built (the network is :class:`.vector_model.VectorVQ`).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import FourmError
from .vector_config import CONFIG_FILE, WEIGHTS_FILE, VectorVQConfig  # noqa: F401  (public names)


class VectorTokenizer:
    """A modality tokenizer over :class:`VectorVQ`; ``to_vector``/``from_vector`` adapt raw values."""

    def __init__(self, model: Any, to_vector: Callable[[Any], np.ndarray],
                 from_vector: Callable[[np.ndarray], Any], shape: tuple[int, ...] | None = None):
        self.model, self.to_vector, self.from_vector = model.eval(), to_vector, from_vector
        self.shape = shape or (model.config.num_tokens,)
        if int(np.prod(self.shape)) != model.config.num_tokens:
            raise FourmError(f"token shape {self.shape} does not hold {model.config.num_tokens} tokens")

    @property
    def vocab_size(self) -> int:
        return self.model.config.vocab_size

    def vectors(self, values: Sequence[Any]) -> Any:
        """A B×F float tensor of the values (``FourmError`` naming a bad one)."""
        name, n = self.model.config.modality or "vector", self.model.config.in_features
        import torch

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
        import torch

        out = self.model.decode(torch.from_numpy(ids)).numpy()
        return [self.from_vector(row) for row in out]

    def fit(self, values: Sequence[Any], steps: int = 300, lr: float = 1e-3, batch_size: int = 64,
            seed: int = 0) -> list[float]:
        """Train on ``values`` (a quick AdamW loop); returns the loss of every step."""
        import torch

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
        from .vector_model import VectorVQ

        model = VectorVQ(self.config(spec, **overrides))
        return VectorTokenizer(model, self.to_vector, self.from_vector, self._shape(spec))

    def __call__(self, spec: Any, path: str | Path | None = None) -> VectorTokenizer:
        if path is None:
            return self.fresh(spec)
        from .factory import _released_model
        from .vector_model import VectorVQ

        released = _released_model(spec, path, vector=True)
        model = released if released is not None else VectorVQ.from_pretrained(path)
        c = model.config
        if c.modality and c.modality != spec.name:
            raise FourmError(f"{path} holds a tokenizer for {c.modality!r}, not {spec.name!r}.")
        if c.vocab_size > spec.tokenizer.vocab_size or c.num_tokens != spec.num_tokens:
            raise FourmError(f"Modality {spec.name!r}: the tokenizer at {path} gives {c.num_tokens} "
                             f"tokens of {c.vocab_size} codes; the modality declares {spec.num_tokens} "
                             f"tokens of {spec.tokenizer.vocab_size}.")
        return VectorTokenizer(model, self.to_vector, self.from_vector, self._shape(spec))
