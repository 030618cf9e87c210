"""Any-to-any generation: schedules, MaskGIT / ROAR / autoregressive decoding, guidance."""
from __future__ import annotations

from .generator import GenerationResult, Generator
from .plan import StepPlan, plan_generation
from .protocol import SequenceDecoder, TokenPredictor
from .schedule import GenerationSchedule, StepConfig, load_schedule, parse_spec

__all__ = ["GenerationResult", "GenerationSchedule", "Generator", "SequenceDecoder", "StepConfig",
           "StepPlan", "TokenPredictor", "load_schedule", "parse_spec", "plan_generation"]
