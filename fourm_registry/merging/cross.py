"""Building a :class:`~.cross_model.FourMCross` from two parents (JAM-Cross).

Trunk A is parent A's transformer and embeddings, trunk B parent B's; a modality a parent
lacks gets a freshly initialised embedding in that trunk. Fusion layers are new (output
projections zero). The fused head of a modality is ``[w_A·H_A, w_B·H_B]`` over the two trunk
outputs: for a modality of only one parent, that parent's head with weight 1 (and zeros for
the other trunk), so at initialisation the logits are exactly that parent's; for a shared
modality they are the ``--weights`` mix of both parents' logits.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from .assemble import load_state, modality_of, registry_for
from .cross_model import FourMCross, build_cross
from .plan import MergePlan, Parent, check_shapes, param_count, unique_state, union_records


def _head_weight(parent: Parent, name: str) -> torch.Tensor | None:
    if name not in parent.records or name not in parent.model.decoder_embeddings:
        return None
    return parent.model.decoder_embeddings[name].to_logits.weight.detach()


def plan_cross(a: Parent, b: Parent, weights: tuple[float, float], registry: Any, every: int = 1
               ) -> tuple[MergePlan, nn.Module, dict]:
    records = union_records(a, b)
    reg = registry_for(records, registry)
    cfg = {"a": a.model.config.model_dump(mode="json"), "b": b.model.config.model_dump(mode="json"), "every": every}
    merged: FourMCross = build_cross(cfg, [reg.get_modality(n) for n in records], reg)
    plan = MergePlan("cross", (str(a.path), str(b.path)), parent_params=(param_count(a.model), param_count(b.model)))
    plan.notes.append(f"fusion (bi-directional cross-attention, zero output projections) after every {every}. "
                      f"layer: {len(merged.encoder_fusion)} encoder + {len(merged.decoder_fusion)} decoder")
    parents = {"a": (a, a.model.state_dict()), "b": (b, b.model.state_dict())}
    state, fresh = {}, set()
    for name, target in unique_state(merged).items():
        top, _, rest = name.partition(".")
        if top in parents:
            parent, sd = parents[top]
            modality = modality_of(rest)
            if rest in sd and (modality is None or modality in parent.records):
                state[name] = sd[rest].clone()
                plan.add(name, f"copied from {parent.label}", target.shape)
                continue
            fresh.add(f"{modality} in trunk {parent.label}")
        elif top == "heads":
            modality, side = rest.split(".")
            parent = a if side == "a" else b
            head = _head_weight(parent, modality)
            share = len([p for p in (a, b) if _head_weight(p, modality) is not None])
            w = (weights[0] if side == "a" else weights[1]) if share == 2 else 1.0
            state[name] = head * w if head is not None else torch.zeros_like(target)
            plan.add(name, "concatenated", target.shape)
            continue
        state[name] = target.detach().clone()
        plan.add(name, "new", target.shape)
    if fresh:
        plan.notes.append("new embeddings for modalities a trunk's parent lacks: " + ", ".join(sorted(fresh)))
    plan.notes.append(f"heads of shared modalities mix the parents' logits with weights {weights[0]:g}, {weights[1]:g}")
    check_shapes(merged, state, "cross")
    return plan, merged, state


def merge_cross(a: Parent, b: Parent, weights: tuple[float, float], registry: Any, every: int = 1
                ) -> tuple[MergePlan, nn.Module]:
    plan, merged, state = plan_cross(a, b, weights, registry, every)
    return plan, load_state(merged, state)
