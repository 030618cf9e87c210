"""fourm plugin: people — 4M-21's ``human_poses``, plus ``human_keypoints`` and ``person_mask``
labeled by MediaPipe models that ship in the mediapipe 0.10.14 wheel."""
from __future__ import annotations

from fourm_registry import hookimpl

from . import keypoints, person_mask
from .spec import MEDIAPIPE, SPEC
from .tokenizer import pose_tokenizer, tokenize_poses


@hookimpl
def register_modalities(register):
    register(SPEC)
    register(keypoints.SPEC)
    register(person_mask.SPEC)


@hookimpl
def register_labelers(register):
    register(MEDIAPIPE)


__all__ = ["MEDIAPIPE", "SPEC", "pose_tokenizer", "tokenize_poses"]
