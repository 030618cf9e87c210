"""The embedded synthetic dataset: procedural scenes rendered with Mitsuba 3 on the CPU.

Every sample has exact, pixel-aligned ground truth for the built-in modalities: ``rgb``
(path traced, with shading and shadows), ``depth`` (z-depth in metres), ``normal``
(camera frame), ``semseg`` (:data:`~.scene.CLASSES`), ``det`` (instance boxes), ``caption``
(generated from the layout), plus ``camera`` intrinsics and the ``scene`` description.
``generate`` writes a dataset (``fourm data synth``); ``render`` renders one scene.
"""
from __future__ import annotations

from .scene import CLASSES, Scene, sample_scene

__all__ = ["CLASSES", "Scene", "sample_scene"]
