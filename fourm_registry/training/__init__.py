"""Training with DeepSpeed: config, engine set-up, checkpoints, exact resume, the loop.

Importing this package does not import DeepSpeed: it is imported when a run starts, after
the rank variables and accelerator have been set (see :mod:`.launch`).
"""
from __future__ import annotations

from .config import TrainConfig
from .state import TrainingDiverged, TrainResult, TrainState
from .trainer import Trainer

__all__ = ["TrainConfig", "TrainResult", "TrainState", "Trainer", "TrainingDiverged"]
