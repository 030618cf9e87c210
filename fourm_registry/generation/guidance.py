"""Multimodal classifier-free guidance with every pass batched into one forward.

``logits = uncond + scale·(cond − uncond) + Σ wᵢ·(condᵢ − uncond)``. ``uncond`` hides the
guided conditions; ``condᵢ`` shows only guided condition ``i`` (a condition key may carry a
tag, ``name@tag``, to hold a second value of a modality such as a negative prompt). With
scale 1 and no weights there is no unconditional pass: the result *is* the conditional logits.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import torch

from ..batch import Batch, ModalityBatch
from ..errors import FourmError


def modality_of(key: str) -> str:
    """``caption@neg`` → ``caption``: the modality a (possibly tagged) condition key holds."""
    return key.split("@", 1)[0]


def hidden(mb: ModalityBatch) -> ModalityBatch:
    """The same tensors with nothing visible to the encoder."""
    return replace(mb, input_mask=torch.zeros_like(mb.input_mask))


def cat_batches(batches: Sequence[Batch]) -> Batch:
    """Concatenate along the sample axis; a modality missing from a batch joins hidden."""
    keys: list[str] = []
    for b in batches:
        keys += [k for k in b if k not in keys]
    out: Batch = {}
    for k in keys:
        proto = next(b[k] for b in batches if k in b)
        parts = [b[k] if k in b else hidden(proto) for b in batches]
        out[k] = ModalityBatch(
            inputs=torch.cat([p.inputs for p in parts]),
            input_mask=torch.cat([p.input_mask for p in parts]),
        )
    return out


@dataclass
class GuidedPasses:
    """The passes of one guided prediction and how to combine their logits."""

    passes: list[Batch]
    scale: float
    weights: list[float]  # one per extra term, after cond and uncond

    @property
    def rows(self) -> int:
        """How many copies of each sample the batched forward holds."""
        return len(self.passes)

    def batch(self) -> Batch:
        return self.passes[0] if len(self.passes) == 1 else cat_batches(self.passes)

    def combine(self, logits: torch.Tensor) -> torch.Tensor:
        """Per-pass logits stacked on dim 0 (rows·B × …) → guided B × … logits."""
        if len(self.passes) == 1:
            return logits
        chunks = logits.float().chunk(len(self.passes), dim=0)
        cond, uncond = chunks[0], chunks[1]
        out = uncond + self.scale * (cond - uncond)
        for w, term in zip(self.weights, chunks[2:]):
            out = out + w * (term - uncond)
        return out


def plan_passes(state: Batch, conditions: Mapping[str, ModalityBatch], guided: Sequence[str],
                scale: float, weights: Mapping[str, float]) -> GuidedPasses:
    """Build the cond / uncond / per-condition passes.

    ``state`` is what the model sees in the conditional pass (conditions keyed by modality,
    plus the target's partial tokens); ``guided`` are the keys hidden in the unconditional
    pass; ``weights`` maps condition keys (tagged or not) to extra guidance terms.
    """
    if scale == 1.0 and not weights:
        return GuidedPasses([state], scale, [])
    uncond = {k: (hidden(v) if k in guided else v) for k, v in state.items()}
    passes, ws = [state, uncond], []
    for key, w in weights.items():
        if key not in conditions:
            raise FourmError(f"Guidance weight names condition {key!r}, which is not given "
                             f"(given: {sorted(conditions)}).")
        term = dict(uncond)
        term[modality_of(key)] = conditions[key]
        passes.append(term)
        ws.append(float(w))
    return GuidedPasses(passes, scale, ws)


def guided_logits(passes: GuidedPasses, forward: Callable[[Batch, int], torch.Tensor]) -> torch.Tensor:
    """Run ``forward(batch, rows)`` once on all passes and combine; ``rows`` says how many
    stacked copies of each sample the batch holds (to repeat positions or tokens)."""
    return passes.combine(forward(passes.batch(), passes.rows))
