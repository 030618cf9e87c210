"""Human pose labelers: any callable (e.g. an HMR2 wrapper) or MediaPipe's BlazePose.

4M-21 labelled poses with HMR2, which transformers does not provide. ``CallableLabeler``
takes any function ``fn(images) -> [[person, …] per image]`` returning this modality's
person dicts (see :mod:`.serial`); from the CLI name it as ``module:function``. The
``mediapipe_pose`` labeler runs the real BlazePose models shipped inside the
``mediapipe==0.10.14`` wheel and converts its 3D landmarks (see :mod:`.blazepose`).
Persons with a ``pose`` get ``pose_tokens`` when a pose tokenizer is given.
"""
from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from fourm_4m21_common.images import rgb_array
from fourm_registry.errors import FourmError

from .serial import check_people
from .tokenizer import pose_tokenizer, tokenize_poses


def load_callable(ref: str) -> Callable[[Sequence[Any]], list]:
    """``'package.module:function'`` → the function."""
    module, _, attr = ref.partition(":")
    if not module or not attr:
        raise FourmError(f"Pose labeler {ref!r} must name a callable as 'module:function'.")
    try:
        fn = getattr(importlib.import_module(module), attr)
    except (ImportError, AttributeError) as exc:
        raise FourmError(f"Cannot load the pose labeler callable {ref!r}: {exc}") from exc
    if not callable(fn):
        raise FourmError(f"{ref!r} is not callable.")
    return fn


class CallableLabeler:
    """Wraps ``fn(images) -> list of person lists``; checks and tokenises what it returns."""

    def __init__(self, fn: Callable[[Sequence[Any]], list], tokenizer: Any = None):
        self.fn, self.tokenizer = fn, tokenizer

    def __call__(self, images: Sequence[Any]) -> list[list[dict]]:
        arrays = [rgb_array(img, i) for i, img in enumerate(images)]
        values = list(self.fn(arrays))
        if len(values) != len(arrays):
            raise FourmError(f"the pose labeler returned {len(values)} results for {len(arrays)} images")
        for i, v in enumerate(values):
            try:
                check_people(v)
            except ValueError as exc:
                raise FourmError(f"pose labeler output for image #{i}: {exc}") from exc
        return tokenize_poses(values, self.tokenizer) if self.tokenizer is not None else values


def make_callable_labeler(model: str | None, device: str = "cpu") -> CallableLabeler:
    """``LabelerSpec.factory``: ``model`` is ``'module:function'`` (optionally
    ``'module:function@/pose/tokenizer/folder'``)."""
    if not model:
        raise FourmError("The human pose labeler needs a callable: --model human_poses=module:function")
    ref, _, tok = model.partition("@")
    return CallableLabeler(load_callable(ref), pose_tokenizer(tok) if tok else None)


def make_mediapipe_labeler(model: str | None, device: str = "cpu") -> CallableLabeler:
    """``LabelerSpec.factory``: MediaPipe BlazePose; ``model`` is an optional pose tokenizer folder."""
    from .blazepose import BlazePose

    tok = pose_tokenizer(model) if model and Path(model).is_dir() else None
    return CallableLabeler(BlazePose(), tok)

