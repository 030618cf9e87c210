"""Merging two trained models into one (JAM: uniform, width, cross), as an ordinary checkpoint.

``merge(A, B, method=..., out=C)`` loads both parents, checks they can be merged (same family,
same tokenizers for shared modalities, shapes the method needs), shows the plan, then writes C
atomically. Families other than 4M plug in their loader through ``loaders``.
"""
from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..errors import FourmError
from .plan import (MergePlan, Parent, carry_provenance, check_same_family, check_tokenizers, load_parent,
                   parse_weights, prepare_out, write_atomically)

METHODS = ("uniform", "width", "cross")


def plan_merge(a: Parent, b: Parent, method: str, weights: tuple[float, float], registry: Any,
               every: int = 1) -> tuple[MergePlan, Any]:
    """The plan and the merged model (in memory) for two loaded parents."""
    check_same_family(a, b)
    check_tokenizers(a, b)
    if a.family == "4m-cross":
        raise FourmError(f"{a.path} is already a cross-fused model; merge its parents instead.")
    if a.family != "4m":
        from .generic import merge_cross_family, merge_uniform_family, merge_width_family

        if method == "cross":
            return merge_cross_family(a, b, weights, registry, every)
        if method == "width":
            return merge_width_family(a, b, weights, registry)
        return merge_uniform_family(a, b, weights, registry)
    if method == "uniform":
        from .uniform import merge_uniform

        return merge_uniform(a, b, weights, registry)
    if method == "width":
        from .width import merge_width

        return merge_width(a, b, weights, registry)
    if method == "cross":
        from .cross import merge_cross

        return merge_cross(a, b, weights, registry, every)
    raise FourmError(f"--method {method!r}: choose one of {', '.join(METHODS)}.")


def merge(path_a: str | os.PathLike, path_b: str | os.PathLike, method: str, out: str | os.PathLike,
          weights: str | tuple[float, float] = (0.5, 0.5), every: int = 1, registry: Any = None,
          echo: Callable[[str], None] = print, overwrite: bool = False, detail: bool = False,
          loader: Callable[[Path, Any], Any] | None = None, dry_run: bool = False) -> tuple[MergePlan, Path]:
    """Merge the checkpoints at ``path_a`` and ``path_b`` into the directory ``out`` (``dry_run``: plan only)."""
    if registry is None:
        from ..registry import get_registry

        registry = get_registry()
    if method not in METHODS:
        raise FourmError(f"--method {method!r}: choose one of {', '.join(METHODS)}.")
    w = parse_weights(weights)
    target = prepare_out(out, overwrite)
    a = load_parent("A", path_a, registry, loader)
    b = load_parent("B", path_b, registry, loader)
    plan, model = plan_merge(a, b, method, w, registry, every)
    echo(plan.render(detail))
    if dry_run:
        echo(f"Dry run: nothing written to {target}.")
        return plan, target
    record = {"method": method, "parents": [str(a.path), str(b.path)], "weights": list(w),
              "every": every if method == "cross" else None, "counts": plan.counts()}
    def save(tmp: Path) -> None:
        model.save_pretrained(tmp)
        carry_provenance(tmp, a, b)

    write_atomically(target, save, record)
    echo(f"Wrote {target}")
    return plan, target


__all__ = ["METHODS", "MergePlan", "merge", "plan_merge"]
