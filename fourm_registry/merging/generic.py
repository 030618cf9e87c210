"""JAM-Uniform, -Width and -Cross for any registered model family (4M has its own, in this package).

Uniform: for parents that share one architecture.

The parents are loaded with their family's ``load``; every tensor is averaged, except rows
that belong to one modality (a model lists them in ``modality_rows()``: ``{tensor name:
{modality: (start, stop)}}``, e.g. the rows of a shared vocabulary): rows of a modality only
one parent was trained on are that parent's. ``model.cover(records)`` (if the model has it)
then records the union of both parents' modalities.
"""
from __future__ import annotations

from typing import Any

from torch import nn

from ..errors import FourmError
from .plan import MergePlan, Parent, param_count, unique_state, union_records
from .uniform import average


def merge_uniform_family(a: Parent, b: Parent, weights: tuple[float, float], registry: Any
                         ) -> tuple[MergePlan, nn.Module]:
    if a.config.get("vocab") != b.config.get("vocab"):
        raise FourmError(f"Cannot merge {a.family} models with different vocabularies: A has "
                         f"{list(a.config.get('vocab') or [])}, B has {list(b.config.get('vocab') or [])}.")
    sa, sb = a.model.state_dict(), b.model.state_dict()
    for name in sa:
        if name not in sb or tuple(sa[name].shape) != tuple(sb[name].shape):
            other = list(sb[name].shape) if name in sb else "missing"
            raise FourmError(f"--method uniform needs parents of the same architecture: {name} is "
                             f"{list(sa[name].shape)} in A but {other} in B.")
    merged = registry.get_family(a.family).load(a.path, registry)
    rows = merged.modality_rows() if hasattr(merged, "modality_rows") else {}
    plan = MergePlan("uniform", (str(a.path), str(b.path)), parent_params=(param_count(a.model), param_count(b.model)))
    plan.notes.append(f"family {a.family}; weights A {weights[0]:g}, B {weights[1]:g}")
    state, copied = {}, set()
    for name, target in unique_state(merged).items():
        value = average(sa[name], sb[name], *weights, name)
        for modality, (lo, hi) in rows.get(name, {}).items():
            in_a, in_b = modality in a.records, modality in b.records
            if in_a != in_b:
                value[lo:hi] = (sa if in_a else sb)[name][lo:hi]
                copied.add(f"{modality} from {'A' if in_a else 'B'}")
        state[name] = value
        plan.add(name, "averaged", target.shape)
    if copied:
        plan.notes.append("modality rows copied from the one parent trained on them: " + ", ".join(sorted(copied)))
    own = merged.state_dict()
    for name, value in state.items():
        own[name].copy_(value)
    if hasattr(merged, "cover"):
        merged.cover(union_records(a, b))
    return plan, merged


def merge_width_family(a: Parent, b: Parent, weights: tuple[float, float], registry: Any
                       ) -> tuple[MergePlan, nn.Module]:
    """JAM-Width for a family whose model offers ``widened()`` (a fresh model of twice the width).

    Linear maps of the trunk get the block rule of :mod:`.width`; a linear whose output size does
    not change (an output head over the vocabulary) and embedding tables are concatenated on the
    hidden axis, as are norms and position tables; rows of a modality only one parent was trained
    on get zeros in the other parent's half.
    """
    from .width import block, concat

    if not hasattr(a.model, "widened"):
        raise FourmError(f"--method width: {a.family} models do not say how to widen (no widened()).")
    if a.config.get("vocab") != b.config.get("vocab") or a.config.get("model") != b.config.get("model"):
        raise FourmError(f"--method width needs two {a.family} parents of one size and vocabulary.")
    merged = a.model.widened()
    sa, sb = a.model.state_dict(), b.model.state_dict()
    rows = merged.modality_rows() if hasattr(merged, "modality_rows") else {}
    modules = dict(merged.named_modules())
    plan = MergePlan("width", (str(a.path), str(b.path)), parent_params=(param_count(a.model), param_count(b.model)))
    plan.notes.append(f"family {a.family}; square matrices W = [[W_A, W_A], [W_B, W_B]] (JAM §2.1)")
    state = {}
    for name, target in unique_state(merged).items():
        ta, tb = sa[name].clone(), sb[name].clone()
        for modality, (lo, hi) in rows.get(name, {}).items():
            if modality not in a.records:
                ta[lo:hi] = 0
            if modality not in b.records:
                tb[lo:hi] = 0
        owner = modules.get(name.rsplit(".", 1)[0])
        if tuple(target.shape) == tuple(ta.shape):
            value, action = ta * weights[0] + tb * weights[1], "averaged"
        elif isinstance(owner, nn.Linear) and name.endswith(".weight") and target.shape[0] != ta.shape[0]:
            value, action = block(ta, tb, 3 if ".qkv." in name else 1), "concatenated"
        else:
            value, action = concat(ta, tb, target.ndim - 1, 3 if ".qkv." in name else 1), "concatenated"
        if tuple(value.shape) != tuple(target.shape):
            raise FourmError(f"--method width: no rule gives {name} {list(target.shape)} (got {list(value.shape)}).")
        state[name] = value
        plan.add(name, action, target.shape)
    own = merged.state_dict()
    for name, value in state.items():
        own[name].copy_(value)
    if hasattr(merged, "cover"):
        merged.cover(union_records(a, b))
    return plan, merged


def merge_cross_family(a: Parent, b: Parent, weights: tuple[float, float], registry: Any, every: int = 1
                       ) -> tuple[MergePlan, nn.Module]:
    """JAM-Cross through the family's ``fuse``: trunks ``a``/``b`` copied, ``head`` fused, the rest new."""
    spec = registry.get_family(a.family)
    if spec.fuse is None:
        raise FourmError(f"--method cross: the {a.family} family does not say how to fuse two models "
                         "(no fuse in its ModelFamilySpec); use --method uniform or width.")
    if a.config.get("vocab") != b.config.get("vocab"):
        raise FourmError(f"Cannot merge {a.family} models with different vocabularies: A has "
                         f"{list(a.config.get('vocab') or [])}, B has {list(b.config.get('vocab') or [])}.")
    merged = spec.fuse(a.model, b.model, every, weights)
    plan = MergePlan("cross", (str(a.path), str(b.path)), parent_params=(param_count(a.model), param_count(b.model)))
    plan.notes.append(f"family {a.family}; fusion (bi-directional cross-attention, zero output projections) "
                      f"after every {every}. layer; heads of shared rows mix the parents' logits with weights "
                      f"{weights[0]:g}, {weights[1]:g}, rows of one parent's modalities are that parent's")
    actions = {"a": "copied from A", "b": "copied from B", "head": "concatenated"}
    for name, target in unique_state(merged).items():
        plan.add(name, actions.get(name.split(".", 1)[0], "new"), target.shape)
    return plan, merged
