"""JAM-Uniform: the weighted average of two parents of one architecture.

Trunk tensors are ``w_A·A + w_B·B``; a tensor that is identical in both parents is kept as is,
so merging a model with itself gives it back bit for bit whatever the weights. A modality
present in only one parent keeps that parent's embeddings and head, so the merged model
covers the union of both modality sets.
"""
from __future__ import annotations

from typing import Any

import torch
from torch import nn

from ..errors import FourmError
from .assemble import build_fourm, load_state, modality_of
from .plan import (MergePlan, Parent, check_same_architecture, check_shapes, param_count, unique_state,
                   union_records)


def average(ta: torch.Tensor, tb: torch.Tensor, wa: float, wb: float, name: str) -> torch.Tensor:
    if tuple(ta.shape) != tuple(tb.shape):
        raise FourmError(f"--method uniform: {name} is {list(ta.shape)} in A but {list(tb.shape)} in B.")
    if torch.equal(ta, tb):
        return ta.clone()
    if not ta.is_floating_point():
        raise FourmError(f"--method uniform: {name} holds integers that differ between A and B.")
    return ta * wa + tb * wb


def plan_uniform(a: Parent, b: Parent, weights: tuple[float, float], registry: Any) -> tuple[MergePlan, nn.Module, dict]:
    """The plan, the (still unfilled) merged model and the state to load into it."""
    check_same_architecture(a, b, "uniform")
    records = union_records(a, b)
    merged = build_fourm(a.config["model"], records, registry)
    sa, sb = a.model.state_dict(), b.model.state_dict()
    plan = MergePlan("uniform", (str(a.path), str(b.path)), parent_params=(param_count(a.model), param_count(b.model)))
    plan.notes.append(f"weights A {weights[0]:g}, B {weights[1]:g}")
    state = {}
    for name, tensor in unique_state(merged).items():
        modality = modality_of(name)
        in_a = name in sa and (modality is None or modality in a.records)
        in_b = name in sb and (modality is None or modality in b.records)
        if in_a and in_b:
            state[name] = average(sa[name], sb[name], *weights, name)
            plan.add(name, "averaged", tensor.shape)
        elif in_a or in_b:
            state[name] = (sa if in_a else sb)[name].clone()
            plan.add(name, "copied from A" if in_a else "copied from B", tensor.shape)
        else:
            raise FourmError(f"--method uniform: neither parent has {name}.")
    only = {p.label: sorted(set(p.records) - set((b if p is a else a).records)) for p in (a, b)}
    for label, names in only.items():
        if names:
            plan.notes.append(f"only in {label} (embeddings and heads copied): {', '.join(names)}")
    check_shapes(merged, state, "uniform")
    return plan, merged, state


def merge_uniform(a: Parent, b: Parent, weights: tuple[float, float], registry: Any) -> tuple[MergePlan, nn.Module]:
    plan, merged, state = plan_uniform(a, b, weights, registry)
    return plan, load_state(merged, state)
