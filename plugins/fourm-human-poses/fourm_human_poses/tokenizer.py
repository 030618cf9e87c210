"""The pose tokenizer: 207 SMPL body-pose numbers ↔ 8 ids of 1024 codes (an MLP quantiser, 4M-21)."""
from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from .serial import POSE_CODES, POSE_DIM, POSE_TOKENS


def _to_vector(value: Any) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float32).reshape(-1)
    if arr.shape != (POSE_DIM,):
        raise ValueError(f"expected {POSE_DIM} pose numbers (23 joints × 3×3), got {arr.size}")
    return arr


def pose_tokenizer(path: str | Path | None = None) -> Any:
    """A fresh pose tokenizer (``path=None``) or one saved with ``save_pretrained``."""
    from fourm_4m21_common.vector_vq import VectorTokenizer, VectorVQ, VectorVQConfig

    if path is not None:
        model = VectorVQ.from_pretrained(path)
    else:
        model = VectorVQ(VectorVQConfig(modality="human_pose", in_features=POSE_DIM, num_tokens=POSE_TOKENS,
                                        vocab_size=POSE_CODES, loss="smooth_l1", hidden=1024))
    return VectorTokenizer(model, _to_vector, lambda x: np.asarray(x, np.float32).tolist())


def tokenize_poses(values: list[Any], tokenizer: Any) -> list[Any]:
    """Fill ``pose_tokens`` of every person that has a ``pose`` (values updated and returned)."""
    todo = [p for v in values for p in v if p.get("pose") is not None]
    for person, toks in zip(todo, tokenizer.encode([p["pose"] for p in todo]) if todo else []):
        person["pose_tokens"] = [int(t) for t in np.asarray(toks).reshape(-1)]
    return values
