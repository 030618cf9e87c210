"""Chained any-to-any generation: run a schedule's steps in order over a :class:`TokenPredictor`.

Each finished target joins the conditioning of later steps (and, with
``guide_generated``, their guided set). Conditions are ``ModalityBatch``es keyed by modality
(or ``modality@tag`` for extra guidance-only values such as negative prompts); a grid
condition whose ``input_mask`` hides some cells is in-painted (or out-painted) by a step
targeting it.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
import torch

from ..batch import Batch, ModalityBatch
from ..errors import FourmError
from ..registry import Registry
from .autoregressive import decode_sequence
from .guidance import GuidedPasses, modality_of, plan_passes
from .maskgit import fill_grid
from .plan import StepPlan, plan_generation
from .protocol import TokenPredictor
from .sampling import make_generator
from .schedule import GenerationSchedule
from .timetables import temperature_at


@dataclass
class GenerationResult:
    """Final tokens: grids as B×N ids with the mask of filled cells; sequences as id lists."""

    grids: dict[str, torch.Tensor] = field(default_factory=dict)
    filled: dict[str, torch.Tensor] = field(default_factory=dict)
    sequences: dict[str, list[list[int]]] = field(default_factory=dict)
    state: Batch = field(default_factory=dict)  # every modality as the encoder would see it
    plans: list[StepPlan] = field(default_factory=list)


def _batch_size(conditions: Mapping[str, ModalityBatch], batch_size: int | None) -> int:
    sizes = {mb.batch_size for mb in conditions.values()}
    if batch_size is not None:
        sizes = (sizes - {1}) | {batch_size}  # one-sample conditions are repeated
    if len(sizes) > 1:
        raise FourmError(f"Conditions disagree on the number of samples: {sorted(sizes)}.")
    if not sizes:
        raise FourmError("Nothing to condition on: give a batch_size for unconditional generation.")
    return sizes.pop()


def _expand(mb: ModalityBatch, b: int) -> ModalityBatch:
    if mb.batch_size == b:
        return mb
    if mb.batch_size != 1:
        raise FourmError(f"A condition has {mb.batch_size} samples; expected 1 or {b}.")
    return ModalityBatch(inputs=mb.inputs.expand(b, *mb.inputs.shape[1:]).clone(),
                         input_mask=mb.input_mask.expand(b, -1).clone())


class Generator:
    """Runs schedules over ``predictor``; ``registry`` supplies each modality's kind and size."""

    def __init__(self, predictor: TokenPredictor, registry: Registry,
                 device: torch.device | str | None = None):
        self.predictor = predictor
        self.registry = registry
        self.device = torch.device(device or getattr(predictor, "device", "cpu"))

    def unknown_counts(self, conditions: Mapping[str, ModalityBatch]) -> dict[str, int]:
        """Per condition key, the tokens it leaves to generate (grid cells hidden in sample 0)."""
        out = {}
        for key, mb in conditions.items():
            spec = self.registry.get_modality(modality_of(key))
            out[key] = int((~mb.input_mask[0]).sum()) if spec.kind.is_grid else 0
        return out

    def plan(self, schedule: GenerationSchedule, conditions: Mapping[str, ModalityBatch],
             regenerate: Collection[str] = ()) -> list[StepPlan]:
        """Validate ``schedule`` against the registry, the model and ``conditions``; no compute."""
        return plan_generation(schedule, self.registry, self.predictor.input_modalities,
                               self.predictor.target_modalities, self.unknown_counts(conditions),
                               regenerate)

    @torch.no_grad()
    def generate(self, conditions: Mapping[str, ModalityBatch], schedule: GenerationSchedule, *,
                 seed: int | None = None, batch_size: int | None = None, use_cache: bool = True,
                 regenerate: Collection[str] = (),
                 on_step: Callable[[StepPlan, int], None] | None = None) -> GenerationResult:
        """Run every step of ``schedule``; a fixed ``seed`` reproduces the result exactly.
        Targets given whole are skipped unless named in ``regenerate``."""
        plans = self.plan(schedule, conditions, regenerate)
        b = _batch_size(conditions, batch_size)
        given = {k: _expand(mb, b).to(self.device) for k, mb in conditions.items()}
        state: Batch = {k: v for k, v in given.items() if "@" not in k}
        gen = make_generator(seed, self.device)
        result = GenerationResult(plans=plans)
        for plan in plans:
            if plan.skipped:
                continue
            spec = self.registry.get_modality(plan.target)
            if spec.kind.is_grid:
                state[plan.target] = self._grid_step(plan, state, given, b, gen, on_step)
                result.grids[plan.target] = state[plan.target].inputs
                result.filled[plan.target] = state[plan.target].input_mask
            else:
                ids = self._sequence_step(plan, state, given, b, gen, use_cache)
                result.sequences[plan.target] = ids
                state[plan.target] = self.predictor.sequence_input(plan.target, ids, b)
                if on_step is not None:
                    on_step(plan, 0)
        result.state = state
        return result

    # -- one step ------------------------------------------------------------------
    def _passes(self, plan: StepPlan, state: Batch, given: Mapping[str, ModalityBatch],
                extra: Mapping[str, ModalityBatch]) -> GuidedPasses:
        seen = {k: state[k] for k in plan.condition_on}
        seen.update(extra)
        pool = {**given, **state}  # a regenerated modality's new value wins
        cfg = plan.config
        return plan_passes(seen, pool, plan.guidance_on, cfg.guidance, cfg.weights)

    def _grid_step(self, plan: StepPlan, state: Batch, given: Mapping[str, ModalityBatch], b: int,
                   gen: torch.Generator, on_step: Callable[[StepPlan, int], None] | None,
                   ) -> ModalityBatch:
        name, cfg = plan.target, plan.config
        start = None if plan.fresh else state.get(name)
        if start is None:
            n = self.predictor.num_tokens(name)
            start = ModalityBatch(inputs=torch.zeros(b, n, dtype=torch.long, device=self.device),
                                  input_mask=torch.zeros(b, n, dtype=torch.bool, device=self.device))

        def logits_fn(tokens: torch.Tensor, known: torch.Tensor, pos: torch.Tensor) -> torch.Tensor:
            current = ModalityBatch(inputs=tokens, input_mask=known)
            passes = self._passes(plan, state, given, {name: current})
            ctx = self.predictor.encode(passes.batch())
            return passes.combine(self.predictor.grid_logits(ctx, name, pos.repeat(passes.rows, 1)))

        step_cb = (lambda i, _t, _k: on_step(plan, i)) if on_step is not None else None
        tokens, known = fill_grid(start.inputs.long(), start.input_mask.bool(), logits_fn,
                                  plan.scheme, plan.counts, plan.temperatures, cfg.top_k, cfg.top_p,
                                  gen, step_cb)
        return ModalityBatch(inputs=tokens, input_mask=known)

    def _sequence_step(self, plan: StepPlan, state: Batch, given: Mapping[str, ModalityBatch],
                       b: int, gen: torch.Generator, use_cache: bool) -> list[list[int]]:
        name, cfg = plan.target, plan.config
        prompt = getattr(self.predictor, "sequence_prompt", lambda _n, _b: None)(name, b)
        passes = self._passes(plan, state, given, {} if prompt is None else {name: prompt})
        ctx = self.predictor.encode(passes.batch())
        decoder = self.predictor.sequence_decoder(ctx, name, use_cache=use_cache)

        def next_logits(tokens: torch.Tensor) -> torch.Tensor:
            return passes.combine(decoder(tokens.repeat(passes.rows, 1)))

        def temp(frac: float) -> float:
            return temperature_at(str(cfg.temperature_schedule), float(cfg.temperature), frac,
                                  cfg.min_temperature, cfg.onex_power)

        return decode_sequence(next_logits, self.predictor.sequence_start(name), b, plan.counts[0],
                               self.predictor.sequence_stop(name), self.predictor.pad_id(name),
                               temp, cfg.top_k, cfg.top_p, gen, self.device)
