"""One quickstart run's paths and sized registry, and the reseeding every stage starts with."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from .settings import QuickstartSettings


class Run:
    """Paths of one quickstart run and the registry sized for it."""

    def __init__(self, out: Path, settings: QuickstartSettings, registry: Any):
        self.out, self.s = Path(out), settings
        self.registry = registry.with_overrides(settings.modality_settings())
        self.data = self.out / "data"
        self.tokenizers = self.out / "tokenizers"
        self.tokens = self.out / "tokens"
        self.train_dir = self.out / "train"
        self.report_dir = self.out

    @property
    def export(self) -> Path:
        return self.train_dir / "export"


def _seed(seed: int) -> None:
    """Every global random stream, so a stage gives the same result whatever ran before it in
    this process (a resumed run skips stages a fresh one runs)."""
    import random

    import numpy as np
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)
