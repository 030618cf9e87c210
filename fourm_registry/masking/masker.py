"""Per-sample masking: pick a mixture component, draw budgets, mask each modality by its rule.

Input per modality (``prepare``d arrays): grid token ids (N,), sequence ids (L,) without
specials, or float features (N×F) for input-only kinds. Output per modality: a
:class:`MaskedModality`, the one-sample form of :class:`fourm_registry.batch.ModalityBatch`.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import FourmError
from ..spec import ModalityKind, ModalitySpec
from ..tokens import EOS_ID
from .budgets import sample_budget
from .config import Alphas, MaskingConfig, MixtureComponent
from .span import check_sentinels, mask_to_budget, span_chunks, truncate_target


@dataclass
class MaskedModality:
    inputs: np.ndarray  # (Ni,) ids or (Ni, F) floats
    input_mask: np.ndarray  # (Ni,) bool, True = given to the encoder
    targets: np.ndarray | None = None  # (Nt,) ids
    target_mask: np.ndarray | None = None  # (Nt,) bool, True = predicted


@dataclass(frozen=True)
class Draw:
    component: int
    input_budget: np.ndarray  # per modality, in the masker's modality order
    target_budget: np.ndarray


def uniform_mask(num_tokens: int, input_budget: int, target_budget: int,
                 rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """Disjoint random input and target cells of a grid."""
    order = rng.permutation(num_tokens)
    input_mask = np.zeros(num_tokens, dtype=bool)
    target_mask = np.zeros(num_tokens, dtype=bool)
    input_mask[order[:input_budget]] = True
    target_mask[order[input_budget:input_budget + target_budget]] = True
    return input_mask, target_mask


class Masker:
    """Masks one sample of ``specs`` according to a :class:`MaskingConfig`."""

    def __init__(self, config: MaskingConfig, specs: Sequence[ModalitySpec]):
        self.config = config
        self.specs = list(specs)
        self.names = [s.name for s in self.specs]
        self.max_tokens = np.array([s.masking.max_tokens or s.num_tokens for s in self.specs])
        self.min_tokens = np.array([s.masking.min_tokens for s in self.specs])
        self.is_grid = np.array([s.kind.is_grid for s in self.specs])
        self.can_target = np.array([not s.input_only for s in self.specs])
        self.components = config.mixture()
        self.weights = np.array([c.weight for c in self.components]) / sum(c.weight for c in self.components)
        self.input_alphas = np.stack([self._alphas(c, c.input_alphas, "input_alphas") for c in self.components])
        self.target_alphas = np.stack([self._alphas(c, c.target_alphas, "target_alphas") * self.can_target
                                       for c in self.components])
        self.keep_all = [self._keep_all(c) for c in self.components]
        for spec in self.specs:
            if spec.kind is ModalityKind.SEQUENCE:
                check_sentinels(spec.tokenizer.max_length or spec.num_tokens, spec.tokenizer.vocab_size, spec.name)
        for c, alphas in zip(self.components, self.input_alphas):
            if not (alphas > 0).any():
                raise FourmError(f"Masking component {c.name!r} gives no modality an input alpha > 0.")

    def _alphas(self, comp: MixtureComponent, alphas: Alphas, field: str) -> np.ndarray:
        if alphas is None:
            return np.array([s.masking.alpha for s in self.specs], dtype=np.float64)
        if isinstance(alphas, int | float):
            return np.full(len(self.specs), float(alphas))
        unknown = sorted(set(alphas) - set(self.names))
        if unknown:
            raise FourmError(f"Masking component {comp.name!r}: {field} names {unknown}, which are not "
                             f"among the selected modalities {self.names}.")
        return np.array([float(alphas.get(n, 0.0)) for n in self.names])

    def _keep_all(self, comp: MixtureComponent) -> set[str]:
        for name in comp.keep_all:
            if name not in self.names or self.specs[self.names.index(name)].kind is not ModalityKind.SEQUENCE:
                raise FourmError(f"Masking component {comp.name!r}: keep_all lists {name!r}, which is not "
                                 "a selected sequence modality.")
        return set(comp.keep_all)

    @staticmethod
    def _total(rng: np.random.Generator, value: int | tuple[int, int]) -> int:
        lo, hi = (value, value) if isinstance(value, int) else value
        return int(rng.integers(lo, hi + 1))

    def draw(self, rng: np.random.Generator) -> Draw:
        """Component and per-modality input/target budgets (targets of grids exclude input cells)."""
        cfg = self.config
        comp = int(rng.choice(len(self.components), p=self.weights))
        inputs = sample_budget(rng, self.input_alphas[comp], self._total(rng, cfg.input_tokens),
                               self.min_tokens, self.max_tokens, cfg.max_tries)
        room = np.where(self.is_grid, self.max_tokens - inputs, self.max_tokens) * self.can_target
        targets = sample_budget(rng, self.target_alphas[comp], self._total(rng, cfg.target_tokens),
                                self.min_tokens, room, cfg.max_tries)
        return Draw(comp, inputs, targets)

    def __call__(self, sample: Mapping[str, Any], rng: np.random.Generator) -> dict[str, MaskedModality]:
        draw = self.draw(rng)
        out = {}
        for i, spec in enumerate(self.specs):
            value = np.asarray(sample[spec.name])
            n_in, n_tgt = int(draw.input_budget[i]), int(draw.target_budget[i])
            if spec.kind is ModalityKind.SEQUENCE:
                keep_all = spec.name in self.keep_all[draw.component]
                out[spec.name] = self._sequence(spec, value, n_in, n_tgt, keep_all, rng)
            elif spec.input_only:
                input_mask, _ = uniform_mask(len(value), min(n_in, len(value)), 0, rng)
                out[spec.name] = MaskedModality(value, input_mask)
            else:
                input_mask, target_mask = uniform_mask(len(value), n_in, n_tgt, rng)
                out[spec.name] = MaskedModality(value, input_mask, value, target_mask)
        return out

    def _sequence(self, spec: ModalitySpec, ids: np.ndarray, n_in: int, n_tgt: int, keep_all: bool,
                  rng: np.random.Generator) -> MaskedModality:
        limit = spec.tokenizer.max_length
        body = ids.tolist()[: limit - 1] if limit else ids.tolist()
        seq = [*body, EOS_ID]  # [EOS] is never cut off
        chunks = span_chunks(spec, body)
        keep_prob = 1.0 if keep_all else float(rng.uniform(0.0, 1.0))
        inputs, targets = mask_to_budget(seq, n_in, keep_prob, self.config.keep_prob_decay, rng,
                                         None if chunks is None else [*chunks, 1])
        targets = truncate_target(targets, n_tgt, rng)
        inp = np.asarray(inputs, dtype=np.int64)
        tgt = np.asarray(targets, dtype=np.int64)
        return MaskedModality(inp, np.ones(len(inp), dtype=bool), tgt, np.ones(len(tgt), dtype=bool))
