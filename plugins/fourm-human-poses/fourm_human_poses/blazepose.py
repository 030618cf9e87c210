"""MediaPipe BlazePose (real weights in the mediapipe 0.10.14 wheel) → this modality's persons.

BlazePose gives 33 landmarks per image (one person): image-relative 2D points and metric 3D
"world" points centred at the hips (x right, y down, z away from the camera — the camera's
axes). They are turned into SMPL-style parameters without a body model:

- ``box``: the visible landmarks' extent, padded by 5 %;
- ``global_orient``: the body frame (x: right hip → left hip, y: hips → shoulders, z = x × y)
  in camera axes, i.e. SMPL's body → camera rotation;
- ``pose``: for each of SMPL's 23 joints, the *swing* rotation that turns its T-pose bone
  direction into the observed one, relative to its parent (twist is unobservable from
  points, so it is zero; joints without a landmark bone keep the identity);
- ``camera``: the weak-perspective ``[s, tx, ty]`` that best maps the 3D points onto the 2D
  ones in box coordinates ([-1, 1]), fitted by least squares;
- ``betas``: zeros (BlazePose gives no body shape).
"""
from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np

MIN_VISIBILITY = 0.5
# SMPL joints: parents, and the bone each measurable joint rotates: (from, to) landmark groups
# of BlazePose and the bone's direction in SMPL's T-pose (x: body left, y: up, z: forward).
PARENTS = [-1, 0, 0, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 9, 9, 12, 13, 14, 16, 17, 18, 19, 20, 21]
_DOWN, _UP, _LEFT, _RIGHT = (0, -1, 0), (0, 1, 0), (1, 0, 0), (-1, 0, 0)
_FOOT = (0, -0.45, 0.9)
BONES: dict[int, tuple[tuple[int, ...], tuple[int, ...], tuple[float, ...]]] = {
    1: ((23,), (25,), _DOWN), 2: ((24,), (26,), _DOWN),            # hips → knees
    4: ((25,), (27,), _DOWN), 5: ((26,), (28,), _DOWN),            # knees → ankles
    7: ((27,), (31,), _FOOT), 8: ((28,), (32,), _FOOT),            # ankles → toes
    3: ((23, 24), (11, 12), _UP),                                  # spine: hips → shoulders
    12: ((11, 12), (7, 8), _UP),                                   # neck → head (ears)
    16: ((11,), (13,), _LEFT), 17: ((12,), (14,), _RIGHT),         # shoulders → elbows
    18: ((13,), (15,), _LEFT), 19: ((14,), (16,), _RIGHT),         # elbows → wrists
    20: ((15,), (17, 19), _LEFT), 21: ((16,), (18, 20), _RIGHT),   # wrists → hands
}


def _unit(v: np.ndarray) -> np.ndarray:
    return v / max(float(np.linalg.norm(v)), 1e-9)


def swing(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """The smallest rotation taking direction ``a`` to direction ``b`` (Rodrigues)."""
    a, b = _unit(np.asarray(a, float)), _unit(np.asarray(b, float))
    v, c = np.cross(a, b), float(a @ b)
    if c < -1 + 1e-9:  # opposite: half a turn about any axis orthogonal to a
        axis = _unit(np.cross(a, [1.0, 0, 0] if abs(a[0]) < 0.9 else [0, 1.0, 0]))
        return 2 * np.outer(axis, axis) - np.eye(3)
    k = np.array([[0, -v[2], v[1]], [v[2], 0, -v[0]], [-v[1], v[0], 0]])
    return np.eye(3) + k + k @ k / (1 + c)


def body_frame(world: np.ndarray) -> np.ndarray:
    """SMPL body → camera rotation from the hips and shoulders."""
    x = _unit(world[23] - world[24])  # subject's right hip → left hip
    y = world[[11, 12]].mean(0) - world[[23, 24]].mean(0)
    y = _unit(y - (y @ x) * x)
    return np.stack([x, y, np.cross(x, y)], axis=1)


def joint_rotations(world: np.ndarray, visible: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(global orient 3×3, 23×3×3 local joint rotations) from 33×3 world landmarks."""
    glob = np.zeros((24, 3, 3))
    glob[0] = body_frame(world)
    local = np.tile(np.eye(3), (24, 1, 1))
    for j in range(1, 24):
        parent = glob[PARENTS[j]]
        if j in BONES:
            src, dst, rest = BONES[j]
            if visible[list(src + dst)].all():
                observed = world[list(dst)].mean(0) - world[list(src)].mean(0)
                local[j] = swing(np.asarray(rest, float), parent.T @ observed)
        glob[j] = parent @ local[j]
    return glob[0], local[1:]


def weak_perspective(world: np.ndarray, image_xy: np.ndarray, box: np.ndarray) -> list[float]:
    """``[s, tx, ty]`` with ``box_xy ≈ s · world_xy + t`` (box coordinates in [-1, 1])."""
    size = np.maximum(box[2:] - box[:2], 1e-6)
    uv = 2 * (image_xy - box[:2]) / size - 1
    design = np.zeros((2 * len(world), 3))
    design[:, 0] = world[:, :2].reshape(-1)
    design[0::2, 1] = 1
    design[1::2, 2] = 1
    sol, *_ = np.linalg.lstsq(design, uv.reshape(-1), rcond=None)
    return [float(v) for v in sol]


def person_from_landmarks(image_xy: np.ndarray, world: np.ndarray, visibility: np.ndarray) -> dict:
    """One BlazePose result (33×2 image fractions, 33×3 metres, 33 visibilities) → a person."""
    visible = visibility >= MIN_VISIBILITY
    pts = image_xy[visible] if visible.sum() >= 2 else image_xy
    lo, hi = pts.min(0), pts.max(0)
    pad = 0.05 * (hi - lo)
    box = np.concatenate([np.clip(lo - pad, 0, 1), np.clip(hi + pad, 0, 1)])
    orient, local = joint_rotations(world, visible)
    return {"box": box.tolist(), "global_orient": orient.reshape(-1).tolist(),
            "pose": local.reshape(-1).tolist(), "betas": [0.0] * 10,
            "camera": weak_perspective(world[visible] if visible.sum() >= 2 else world,
                                       pts if visible.sum() >= 2 else image_xy, box)}


class BlazePose:
    """``fn(images)`` for :class:`~.labelers.CallableLabeler`: at most one person per image."""

    def __init__(self, min_detection_confidence: float = 0.5):
        try:
            from mediapipe.python.solutions import pose as mp_pose
        except ImportError as exc:
            from fourm_registry.errors import FourmError

            raise FourmError("The mediapipe_pose labeler needs the [mediapipe] extra: "
                             "pip install 'fourm-human-poses[mediapipe]'") from exc
        self._pose = mp_pose.Pose(static_image_mode=True, model_complexity=1,
                                  min_detection_confidence=min_detection_confidence)

    def landmarks(self, image: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
        """(33×2 image fractions, 33×3 world metres, 33 visibilities), or ``None`` if no person."""
        with warnings.catch_warnings():  # mediapipe 0.10.14 calls a deprecated protobuf API
            warnings.filterwarnings("ignore", message=".*GetPrototype.*")
            res = self._pose.process(np.ascontiguousarray(image))
        if res.pose_landmarks is None or res.pose_world_landmarks is None:
            return None
        lm, wl = res.pose_landmarks.landmark, res.pose_world_landmarks.landmark
        return (np.array([[p.x, p.y] for p in lm]), np.array([[p.x, p.y, p.z] for p in wl]),
                np.array([p.visibility for p in lm]))

    def __call__(self, images: Sequence[Any]) -> list[list[dict]]:
        found = [self.landmarks(img) for img in images]
        return [[person_from_landmarks(*f)] if f is not None else [] for f in found]

    def close(self) -> None:
        self._pose.close()
