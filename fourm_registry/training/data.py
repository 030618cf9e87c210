"""The run's data: training and held-out loaders over token shards, built by the data pipeline.

Which modalities are inputs and which are targets is applied to the masking mixture: a
modality that is not an input gets input alpha 0 in every component, one that is not a
target gets target alpha 0. Held-out batches come from a fresh loader with a fixed seed
each time (no shuffling, no repeats), so every evaluation sees the same samples and masks.
"""
from __future__ import annotations

from typing import Any

from ..data import DataConfig, build_train_loader
from ..data.loader import MaskingSetupError
from ..errors import FourmError
from ..masking import MaskingConfig
from ..spec import ModalitySpec
from .config import DataSection, ModalitiesSection


def _restricted(alphas: Any, allowed: set[str], specs: list[ModalitySpec]) -> dict[str, float]:
    out = {}
    for spec in specs:
        if alphas is None:
            value = spec.masking.alpha
        elif isinstance(alphas, int | float):
            value = float(alphas)
        else:
            value = float(alphas.get(spec.name, 0.0))
        out[spec.name] = value if spec.name in allowed else 0.0
    return out


def restrict_roles(masking: MaskingConfig, section: ModalitiesSection,
                   specs: list[ModalitySpec]) -> MaskingConfig:
    """``masking`` with non-inputs never given to the encoder and non-targets never predicted."""
    inputs, targets = set(section.inputs), set(section.targets)
    every = {s.name for s in specs}
    if inputs == every and targets == every:
        return masking
    components = [c.model_copy(update={"input_alphas": _restricted(c.input_alphas, inputs, specs),
                                       "target_alphas": _restricted(c.target_alphas, targets, specs)})
                  for c in masking.mixture()]
    return masking.model_copy(update={"components": components})


class ShardData:
    """The default :class:`~fourm_registry.training.state.DataFactory` of ``fourm train``."""

    def __init__(self, data: DataSection, masking: MaskingConfig, section: ModalitiesSection,
                 registry: Any, specs: list[ModalitySpec], batch_size: int, eval_batch_size: int):
        self.data, self.registry, self.specs = data, registry, specs
        self.masking = restrict_roles(masking, section, specs)
        self.batch_size, self.eval_batch_size = batch_size, eval_batch_size

    def _build(self, cfg: DataConfig, field: str, batch_size: int, **where: int) -> Any:
        try:
            return build_train_loader(cfg, self.masking, self.registry, self.specs, batch_size, **where)
        except MaskingSetupError:
            raise
        except FourmError as exc:
            raise FourmError(f"{field}: {exc}") from exc

    def train(self, *, rank: int, world_size: int, seed: int) -> Any:
        return self._build(self.data.train_config(), "data.shards", self.batch_size,
                           rank=rank, world_size=world_size, seed=seed)

    def held_out(self, *, rank: int, world_size: int, seed: int) -> Any | None:
        cfg = self.data.held_out_config()
        if cfg is None:
            return None
        return self._build(cfg, "data.val_shards", self.eval_batch_size,
                           rank=rank, world_size=world_size, seed=seed)
