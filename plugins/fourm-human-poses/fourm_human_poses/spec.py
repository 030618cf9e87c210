"""The ``human_poses`` declaration: a sequence in the shared text vocabulary (≤ 7 people)."""
from __future__ import annotations

from typing import Any

from PIL import Image

from fourm_4m21_common.draw import boxes
from fourm_registry import LabelerSpec, MaskingSpec, ModalityKind, ModalitySpec, TokenizerSpec
from fourm_registry.codecs import json_codec
from fourm_registry.tokenizers import sequence_tokenizer_factory
from fourm_registry.tokenizers.sequence import TEXT_TOKENS_KEY

from . import serial
from .labelers import make_callable_labeler, make_mediapipe_labeler


def draw(value: Any) -> Image.Image:
    return boxes([(p["box"], f"person {i}") for i, p in enumerate(serial.check_people(value))])


SPEC = ModalitySpec(
    name="human_poses",
    domains=("human_poses",),  # its name in ml-4m checkpoints
    kind=ModalityKind.SEQUENCE,
    description="Human poses: box + SMPL pose/shape/camera per person",
    value='list of {"box", "global_orient": 9, "pose": 207 | "pose_tokens": 8, "betas": 10, "camera": 3}',
    tokenizer=TokenizerSpec(vocab_size=30000, max_length=275, shared="text",
                            factory=sequence_tokenizer_factory),
    masking=MaskingSpec(rule="span"),
    codec=json_codec(check=serial.check_people),
    labeler=LabelerSpec(name="pose_callable", modality="human_poses", factory=make_callable_labeler,
                        description="any function images → people (e.g. an HMR2 wrapper), "
                                    "given as module:function[@pose_tokenizer_dir]"),
    to_text=serial.to_text,
    from_text=serial.from_text,
    draw=draw,
    extras={TEXT_TOKENS_KEY: ["human", "pose", "global", "shape", "camera"],
            "examples": serial.examples, "distance": serial.distance,
            "roundtrip_tolerance": 1.0 / serial.BINS},
)

MEDIAPIPE = LabelerSpec(name="mediapipe_pose", modality="human_poses", factory=make_mediapipe_labeler,
                        description="MediaPipe BlazePose (real weights in the mediapipe 0.10.14 wheel, "
                                    "extra [mediapipe]); --model: optional pose tokenizer folder")
