"""Camera geometry shared by the normal labeler and the synthetic data: depth → normals.

Conventions (those of the ``normal`` modality): camera frame x right, y down, z forward;
pixel (row v, column u) has its centre at image coordinates (u, v), so a W-pixel-wide
image centred on the optical axis has ``cx = (W - 1) / 2``.
"""
from __future__ import annotations

import math

import numpy as np


def intrinsics_from_fov(width: int, height: int, fov_x_deg: float) -> dict[str, float]:
    """Pinhole intrinsics of a centred camera with horizontal field of view ``fov_x_deg``."""
    fx = (width / 2.0) / math.tan(math.radians(fov_x_deg) / 2.0)
    return {"fx": fx, "fy": fx, "cx": (width - 1) / 2.0, "cy": (height - 1) / 2.0}


def backproject(depth: np.ndarray, fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """z-depth H×W → camera-frame points H×W×3."""
    z = np.asarray(depth, dtype=np.float64)
    h, w = z.shape
    u = (np.arange(w, dtype=np.float64)[None, :] - cx) / fx
    v = (np.arange(h, dtype=np.float64)[:, None] - cy) / fy
    return np.stack([u * z, v * z, z], axis=-1)


def normals_from_depth(depth: np.ndarray, fx: float, fy: float, cx: float, cy: float) -> np.ndarray:
    """Unit normals (H×W×3 float32, camera frame, facing the camera) from z-depth.

    Central finite differences of the back-projected points (one-sided at the border);
    exact on planes, smoothed across depth edges. Depth's scale does not matter.
    """
    points = backproject(depth, fx, fy, cx, cy)
    d_du = np.gradient(points, axis=1)
    d_dv = np.gradient(points, axis=0)
    n = np.cross(d_dv, d_du)  # y × x = −z: a fronto-parallel plane faces the camera
    norm = np.linalg.norm(n, axis=-1, keepdims=True)
    n = np.where(norm > 1e-12, n / np.maximum(norm, 1e-12), np.array([0.0, 0.0, -1.0]))
    away = np.sum(n * points, axis=-1, keepdims=True) > 0
    return np.where(away, -n, n).astype(np.float32)
