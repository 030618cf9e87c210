"""What a run has done so far (saved in every checkpoint) and what ``fit`` returns."""
from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from ..errors import FourmError


class TrainingDiverged(FourmError):
    """Too many optimiser steps in a row had a non-finite loss or gradient."""


@dataclass
class TrainState:
    step: int = 0  # optimiser steps taken (skipped ones included: their data was consumed)
    tokens_seen: int = 0  # input + target tokens over all ranks; drives the lr schedule
    nonfinite_total: int = 0  # steps skipped for a non-finite loss or gradient
    nonfinite_in_a_row: int = 0

    def to_dict(self) -> dict[str, int]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TrainState:
        return cls(**{k: int(v) for k, v in data.items() if k in cls.__dataclass_fields__})


@dataclass
class TrainResult:
    state: TrainState
    export_dir: Path | None = None
    checkpoint: Path | None = None
    resumed_from: str | None = None
    evals: list[dict[str, float]] = field(default_factory=list)  # {"step": …, "loss": …, "loss/<m>": …}
    stopped: str = ""  # why training ended


@runtime_checkable
class ResumableLoader(Protocol):
    """An iterable of batches whose position can be saved and restored exactly."""

    def __iter__(self) -> Any: ...

    def state_dict(self) -> dict[str, Any]: ...

    def load_state_dict(self, state: dict[str, Any]) -> None: ...


class DataFactory(Protocol):
    """Builds the loaders of a run (the default one reads the config's shards)."""

    def train(self, *, rank: int, world_size: int, seed: int) -> ResumableLoader: ...

    def held_out(self, *, rank: int, world_size: int, seed: int) -> Any | None:
        """An iterable of batches with fixed masks (``seed``), or None without held-out shards."""

