"""Masks you can see: sampled input/target masks per modality, and the budgets per mixture component.

The paper's advice is that the Dirichlet alphas and the token budgets must be searched; this
draws what a config actually samples so a user can tune them before training.
"""
from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

from ..spec import ModalityKind, ModalitySpec
from ..tokens import EOS_ID, is_sentinel
from .config import MaskingConfig
from .masker import Masker

INPUT, TARGET, HIDDEN, SENTINEL, EOS = (59, 130, 246), (249, 115, 22), (226, 232, 240), (139, 92, 246), (30, 41, 59)
CELL_PANEL, BG, INK = 96, (255, 255, 255), (15, 23, 42)


@dataclass
class BudgetStats:
    """Per component: how often it was drawn and each modality's input/target budgets."""

    names: list[str]
    components: list[str]
    counts: list[int]
    inputs: list[np.ndarray]  # per component: draws × modalities
    targets: list[np.ndarray]

    def summary(self) -> list[dict[str, Any]]:
        out = []
        for c, name in enumerate(self.components):
            row: dict[str, Any] = {"component": name, "draws": self.counts[c]}
            for m, mod in enumerate(self.names):
                i, t = self.inputs[c][:, m], self.targets[c][:, m]
                row[mod] = {"input_mean": round(float(i.mean()), 2) if len(i) else 0.0,
                            "target_mean": round(float(t.mean()), 2) if len(t) else 0.0}
            out.append(row)
        return out


def budget_stats(masker: Masker, draws: int, seed: int = 0) -> BudgetStats:
    rng = np.random.default_rng(seed)
    per: list[list[Any]] = [[] for _ in masker.components]
    for _ in range(draws):
        d = masker.draw(rng)
        per[d.component].append((d.input_budget, d.target_budget))
    n = len(masker.specs)
    ins = [np.array([p[0] for p in rows]).reshape(-1, n) for rows in per]
    tgs = [np.array([p[1] for p in rows]).reshape(-1, n) for rows in per]
    return BudgetStats(masker.names, [c.name for c in masker.components], [len(r) for r in per], ins, tgs)


def _grid_panel(spec: ModalitySpec, m: Any) -> Image.Image:
    h, w = spec.tokenizer.grid or (1, len(m.input_mask))
    cell = max(2, CELL_PANEL // max(h, w))
    colors = np.full((h * w, 3), HIDDEN, np.uint8)
    if m.target_mask is not None:
        colors[np.asarray(m.target_mask)] = TARGET
    colors[np.asarray(m.input_mask)] = INPUT
    img = Image.fromarray(colors.reshape(h, w, 3))
    return img.resize((w * cell, h * cell), Image.NEAREST)


def _strip(ids: Sequence[int], shown: Sequence[bool] | None, color: tuple[int, int, int], n: int) -> np.ndarray:
    row = np.full((n, 3), HIDDEN, np.uint8)
    for j, t in enumerate(list(ids)[:n]):
        if is_sentinel(int(t)):
            row[j] = SENTINEL
        elif int(t) == EOS_ID:
            row[j] = EOS
        elif shown is None or shown[j]:
            row[j] = color
    return row


def _sequence_panel(spec: ModalitySpec, m: Any) -> Image.Image:
    n = max(spec.num_tokens + 2, len(m.inputs), len(m.targets) if m.targets is not None else 0)
    top = _strip(m.inputs, m.input_mask, INPUT, n)
    bottom = _strip(m.targets if m.targets is not None else [], None, TARGET, n)
    cell = max(2, CELL_PANEL // n)
    return Image.fromarray(np.stack([top, bottom])).resize((n * cell, 2 * cell * 4), Image.NEAREST)


def _embedding_panel(spec: ModalitySpec, m: Any) -> Image.Image:
    shown = np.asarray(m.input_mask)
    row = np.where(shown[:, None], np.array(INPUT, np.uint8), np.array(HIDDEN, np.uint8)).astype(np.uint8)
    cell = max(2, CELL_PANEL // max(1, len(row)))
    return Image.fromarray(row[None]).resize((len(row) * cell, cell * 4), Image.NEAREST)


def panel(spec: ModalitySpec, m: Any) -> Image.Image:
    if spec.kind is ModalityKind.SEQUENCE:
        return _sequence_panel(spec, m)
    if spec.input_only and not spec.kind.is_grid:
        return _embedding_panel(spec, m)
    return _grid_panel(spec, m)


def sample_masks(masker: Masker, specs: Sequence[ModalitySpec], samples: int, seed: int = 0) -> list[tuple[str, dict]]:
    """``[(component name, {modality: MaskedModality})]`` for ``samples`` random token samples."""
    from ..testing.values import prepared

    rng = np.random.default_rng(seed)
    out = []
    for _ in range(samples):
        sample: dict[str, Any] = {}
        for spec in specs:
            sample.update(prepared(spec, rng))
        comp = masker.draw(copy.deepcopy(rng)).component  # the draw masker() is about to make
        out.append((masker.components[comp].name, masker(sample, rng)))
    return out


def _histogram(values: np.ndarray, top: int, color: tuple[int, int, int], draw: ImageDraw.ImageDraw,
               box: tuple[int, int, int, int]) -> None:
    x0, y0, x1, y1 = box
    if not len(values):
        return
    bins = np.bincount(np.clip(values, 0, top).astype(int), minlength=top + 1)
    width = (x1 - x0) / (top + 1)
    peak = max(1, int(bins.max()))
    for b, count in enumerate(bins):
        if count:
            h = (y1 - y0) * count / peak
            draw.rectangle([x0 + b * width, y1 - h, x0 + (b + 1) * width - 1, y1], fill=color + (150,))


def render(specs: Sequence[ModalitySpec], masks: list[tuple[str, dict]], stats: BudgetStats) -> Image.Image:
    """One picture: a row of mask panels per sample, then a budget histogram per component × modality."""
    pad, label_w, hist_h = 8, 110, 70
    col_w = [max(120, max((panel(s, mm[s.name]).width for _, mm in masks), default=CELL_PANEL)) for s in specs]
    row_h = CELL_PANEL + pad
    width = label_w + sum(col_w) + pad * (len(specs) + 1)
    height = 24 + row_h * len(masks) + 24 + (hist_h + 22) * len(stats.components) + 30
    img = Image.new("RGB", (width, height), BG)
    d = ImageDraw.Draw(img, "RGBA")
    x = label_w + pad
    for s, w in zip(specs, col_w):
        d.text((x, 6), s.name, fill=INK)
        x += w + pad
    y = 24
    for k, (comp, mm) in enumerate(masks):
        d.text((4, y + 4), f"#{k} {comp}", fill=INK)
        x = label_w + pad
        for s, w in zip(specs, col_w):
            img.paste(panel(s, mm[s.name]), (x, y))
            x += w + pad
        y += row_h
    d.text((4, y + 4), "budgets per component (blue: input, orange: target)", fill=INK)
    y += 24
    for c, comp in enumerate(stats.components):
        d.text((4, y + hist_h // 2), f"{comp} ({stats.counts[c]})", fill=INK)
        x = label_w + pad
        for m, (s, w) in enumerate(zip(specs, col_w)):
            top = s.masking.max_tokens or s.num_tokens
            d.rectangle([x, y, x + w, y + hist_h], outline=HIDDEN)
            _histogram(stats.inputs[c][:, m], top, INPUT, d, (x, y, x + w, y + hist_h))
            _histogram(stats.targets[c][:, m], top, TARGET, d, (x, y, x + w, y + hist_h))
            d.text((x + 2, y + hist_h + 2), f"0..{top}", fill=INK)
            x += w + pad
        y += hist_h + 22
    d.text((4, y + 4), "cells: blue = encoder input, orange = decoder target, grey = neither; "
                       "violet = sentinel, dark = [EOS]", fill=INK)
    return img


def preview(masking: MaskingConfig, specs: Sequence[ModalitySpec], samples: int = 4, draws: int = 2000,
            seed: int = 0) -> tuple[Image.Image, BudgetStats]:
    masker = Masker(masking, specs)
    stats = budget_stats(masker, draws, seed)
    return render(specs, sample_masks(masker, specs, samples, seed), stats), stats
