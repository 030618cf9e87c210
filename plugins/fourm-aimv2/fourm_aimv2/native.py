"""Native-resolution batches (``model.native_resolution``): one resolution per batch, A·B constant.

Each training step draws n ~ N(0, sigma) truncated to [-1, 1] and the area A = 2^n·A0 (A0 the
image modality's image_size²). Images stay square on the patch grid, so the grid side is
g = round(g0·2^(n/2)) and the batch size B = round(A0·B0 / g²·p²) (B0 = ``train.batch_size``):
the pixels (and patches) per batch stay A0·B0 up to that rounding. The samples come one by one
from the family's usual resumable stream (base resolution); each batch is resized to its grid
(bicubic, antialiased) and gets fresh prefixes M ~ U{1, …, g²-1}. The draws are a pure function
of (seed, rank, step), and the position is (step, samples consumed), so a resumed run replays
the same batches. Held-out batches stay at the base resolution (comparable losses).
"""
from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F

from fourm_registry import FourmError
from fourm_registry.batch import ModalityBatch
from fourm_registry.data.collate import pad_stack
from fourm_registry.tokens import PAD_ID

_SALT = 0x41494D32  # "AIM2": this stream's draws never coincide with the loader's own seeds


@dataclass(frozen=True)
class NativeDraw:
    n: float  # the exponent drawn, in [-1, 1]
    grid: int  # patches per side
    batch: int  # samples in the batch

    def area(self, patch: int) -> int:
        return (self.grid * patch) ** 2


def truncated_normal(rng: np.random.Generator, sigma: float, low: float = -1.0, high: float = 1.0) -> float:
    """One draw of N(0, sigma) restricted to [low, high] (rejection: exact, and cheap for sigma ≲ 2)."""
    while True:
        x = float(rng.normal(0.0, sigma))
        if low <= x <= high:
            return x


def draw(rng: np.random.Generator, base_grid: int, base_batch: int, sigma: float, min_batch: int = 1) -> NativeDraw:
    """n, the square grid of area ≈ 2^n·base, and the batch size that keeps grid²·batch ≈ base."""
    n = truncated_normal(rng, sigma)
    grid = max(2, round(base_grid * 2.0 ** (n / 2)))
    batch = max(min_batch, round(base_batch * base_grid**2 / grid**2))
    return NativeDraw(n, grid, batch)


def step_rng(seed: int, rank: int, step: int) -> np.random.Generator:
    return np.random.default_rng([seed, rank, step, _SALT])


def patchify(images: torch.Tensor, patch: int) -> torch.Tensor:
    """B×C×H×W → B×(h·w)×(p·p·C), row by row, channels last (the inverse of ``model.unpatchify``)."""
    b, c, h, w = images.shape
    x = images.reshape(b, c, h // patch, patch, w // patch, patch).permute(0, 2, 4, 3, 5, 1)
    return x.reshape(b, (h // patch) * (w // patch), patch * patch * c)


def resize_patches(patches: torch.Tensor, patch: int, grid: int) -> torch.Tensor:
    """B×N0×(p·p·3) patches in [0, 1] of a square image → the same images on a grid×grid patch grid."""
    from .model import unpatchify

    if round(patches.shape[1] ** 0.5) == grid:
        return patches
    images = unpatchify(patches.float(), patch)
    side = grid * patch
    resized = F.interpolate(images, size=(side, side), mode="bicubic", align_corners=False, antialias=True)
    return patchify(resized.clamp(0.0, 1.0), patch).to(patches.dtype)


def _cat_rows(rows: list[torch.Tensor], fill: Any) -> torch.Tensor:
    return pad_stack([r[0].numpy() for r in rows], fill)


def assemble(samples: list[dict[str, ModalityBatch]], image: str, patch: int, grid: int,
             rng: np.random.Generator) -> dict[str, ModalityBatch]:
    """Single-sample batches → one batch at ``grid``: resized patches, new prefixes, padded text."""
    patches = resize_patches(torch.cat([s[image].inputs for s in samples]), patch, grid)
    b, n = patches.shape[0], patches.shape[1]
    prefix = torch.from_numpy(rng.integers(1, n, size=b)) if n > 1 else torch.ones(b, dtype=torch.long)
    idx = torch.arange(n)
    out = {image: ModalityBatch(patches, torch.ones(b, n, dtype=torch.bool), idx.expand(b, n).clone(),
                                idx[None] >= prefix[:, None])}
    for name in samples[0]:
        if name == image:
            continue
        first = samples[0][name]
        fill = PAD_ID if not first.inputs.is_floating_point() else 0.0
        mb = ModalityBatch(_cat_rows([s[name].inputs for s in samples], fill),
                           _cat_rows([s[name].input_mask for s in samples], False))
        if first.targets is not None:
            mb.targets = _cat_rows([s[name].targets for s in samples], PAD_ID)
            mb.target_mask = _cat_rows([s[name].target_mask for s in samples], False)
        out[name] = mb
    return out


class NativeResolutionLoader:
    """A :class:`~fourm_registry.training.state.ResumableLoader` of native-resolution batches over a
    per-sample loader (batch size 1) of the family's stream."""

    def __init__(self, inner: Any, *, image: str, patch: int, base_grid: int, base_batch: int, sigma: float,
                 min_batch: int, seed: int, rank: int):
        self.inner, self.image, self.patch = inner, image, patch
        self.base_grid, self.base_batch, self.sigma, self.min_batch = base_grid, base_batch, sigma, min_batch
        self.seed, self.rank = seed, rank
        self.step = 0

    def _identity(self) -> dict[str, Any]:
        return {"base_grid": self.base_grid, "base_batch": self.base_batch, "sigma": self.sigma,
                "min_batch": self.min_batch, "seed": self.seed, "rank": self.rank}

    def draw(self, step: int) -> tuple[NativeDraw, np.random.Generator]:
        rng = step_rng(self.seed, self.rank, step)
        return draw(rng, self.base_grid, self.base_batch, self.sigma, self.min_batch), rng

    def state_dict(self) -> dict[str, Any]:
        return {"native_step": self.step, "native": self._identity(), "inner": self.inner.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        if state.get("native") != self._identity():
            raise FourmError(f"Cannot resume the native-resolution stream exactly: saved {state.get('native')} "
                             f"vs now {self._identity()}.")
        self.inner.load_state_dict(state["inner"])
        self.step = int(state["native_step"])

    @property
    def stats(self) -> Any:
        return self.inner.stats

    def __iter__(self) -> Iterator[dict[str, ModalityBatch]]:
        samples = iter(self.inner)
        while True:
            d, rng = self.draw(self.step)
            batch = assemble([next(samples) for _ in range(d.batch)], self.image, self.patch, d.grid, rng)
            self.step += 1
            yield batch
