"""Render a :class:`~.scene.Scene` with Mitsuba 3 (CPU, ``scalar_rgb``) into exact, aligned modalities.

Two renders of one scene: RGB with a path tracer (shading, shadows, sky light, one
bounce) at ``spp`` low-discrepancy samples per pixel, and Mitsuba's AOV integrator at one ray through each pixel centre
(stratified sampler without jitter, box filter), returning world position, shading normal
and shape index of the surface each pixel sees. From those:

- depth: z-depth along the optical axis, ``(P − camera) · forward`` (not ray distance);
- normal: the shading normal in the camera frame (x right, y down, z forward), facing the camera;
- semseg: a class per object type (:data:`~.scene.CLASSES`), instances from shape indices;
- det: one box per visible object enclosing its mask, ``[x0, y0, x1, y1]`` pixel edges
  (column ``x0`` … ``x1 − 1``), score 1.0;
- camera: pinhole intrinsics with pixel centres at integer coordinates.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .scene import CLASSES, COLORS, FLOOR_HALF, Scene, camera_basis, caption

MIN_BOX_PIXELS = 4
_AOVS = "pp:position,nn:sh_normal,si:shape_index"
_VARIANT = "scalar_rgb"


def _mi() -> Any:
    import mitsuba as mi

    if mi.variant() != _VARIANT:
        mi.set_variant(_VARIANT)
    return mi


def _bsdf(rgb: tuple[float, float, float]) -> dict:
    return {"type": "diffuse", "reflectance": {"type": "rgb", "value": list(rgb)}}


def _floor_bsdf(scene: Scene) -> dict:
    """The floor's diffuse BSDF: plain, or a checker of ``floor_tile``-metre tiles whose two
    albedos are ``floor_rgb`` × (1 ± ``floor_contrast``), aligned with the world axes."""
    if scene.floor_tile <= 0:
        return _bsdf(scene.floor_rgb)
    mi = _mi()
    c = scene.floor_contrast
    tone = [{"type": "rgb", "value": [min(1.0, v * f) for v in scene.floor_rgb]} for f in (1 - c, 1 + c)]
    per_uv = 2 * FLOOR_HALF / (2 * scene.floor_tile)  # the rectangle's uv spans the floor; a checker unit is 2 tiles
    return {"type": "diffuse", "reflectance": {"type": "checkerboard", "color0": tone[0], "color1": tone[1],
                                               "to_uv": mi.ScalarTransform4f().scale([per_uv, per_uv, 1])}}


def scene_dict(scene: Scene, size: int, spp: int) -> tuple[dict, dict[str, int]]:
    """The Mitsuba scene description and a map shape id → object index (−1: floor)."""
    mi = _mi()
    T = mi.ScalarTransform4f
    owner: dict[str, int] = {"floor": -1}
    d: dict[str, Any] = {
        "type": "scene",
        "floor": {"type": "rectangle", "to_world": T().rotate([1, 0, 0], -90).scale(FLOOR_HALF),
                  "bsdf": _floor_bsdf(scene)},
        "sun": {"type": "directional", "direction": list(scene.sun_direction),
                "irradiance": {"type": "rgb", "value": scene.sun_irradiance}},
        "sky": {"type": "constant", "radiance": {"type": "rgb", "value": scene.ambient}},
    }
    for k, o in enumerate(scene.objects):
        bsdf = _bsdf(COLORS[o.color])
        if o.shape == "sphere":
            d[f"obj{k}"] = {"type": "sphere", "center": [o.x, o.half, o.z], "radius": o.half, "bsdf": bsdf}
        elif o.shape == "cube":
            d[f"obj{k}"] = {"type": "cube", "bsdf": bsdf,
                            "to_world": T().translate([o.x, o.half, o.z]).rotate([0, 1, 0], o.yaw).scale(o.half)}
        else:  # Mitsuba's cylinder is an open tube: close its top with a disk
            d[f"obj{k}"] = {"type": "cylinder", "p0": [o.x, 0.0, o.z], "p1": [o.x, o.height, o.z],
                            "radius": o.half, "bsdf": bsdf}
            d[f"obj{k}_cap"] = {"type": "disk", "bsdf": bsdf, "to_world": T().translate(
                [o.x, o.height, o.z]).rotate([1, 0, 0], -90).scale(o.half)}
            owner[f"obj{k}_cap"] = k
        owner[f"obj{k}"] = k
    look = T().look_at(origin=list(scene.origin), target=list(scene.target), up=[0, 1, 0])
    film = {"type": "hdrfilm", "width": size, "height": size, "rfilter": {"type": "box"}}
    d["cam_rgb"] = {"type": "perspective", "fov": scene.fov_x_deg, "fov_axis": "x", "to_world": look,
                    "sampler": {"type": "ldsampler", "sample_count": spp},  # low-discrepancy: less grain
                    "film": {**film, "pixel_format": "rgb"}}
    d["cam_aov"] = {"type": "perspective", "fov": scene.fov_x_deg, "fov_axis": "x", "to_world": look,
                    "sampler": {"type": "stratified", "sample_count": 1, "jitter": False}, "film": film}
    return d, owner


def intrinsics(scene: Scene, size: int) -> dict[str, float]:
    from fourm_modalities.labelers.geometry import intrinsics_from_fov

    return intrinsics_from_fov(size, size, scene.fov_x_deg)


def render(scene: Scene, size: int = 224, spp: int = 16, seed: int = 0) -> dict[str, Any]:
    """Render ``scene`` at ``size``×``size`` → raw modality values (+ ``camera``, ``scene``)."""
    from fourm_modalities.det import Detections

    mi = _mi()
    desc, owner = scene_dict(scene, size, spp)
    mscene = mi.load_dict(desc, optimize=False)  # optimize would merge meshes (cubes) and lose ids
    rgb_lin = mi.render(mscene, sensor=0, integrator=mi.load_dict({"type": "path", "max_depth": 3}),
                        seed=seed)
    rgb = np.array(mi.Bitmap(rgb_lin).convert(mi.Bitmap.PixelFormat.RGB, mi.Struct.Type.UInt8,
                                              srgb_gamma=True))
    aov = np.array(mi.render(mscene, sensor=1, integrator=mi.load_dict({"type": "aov", "aovs": _AOVS})))
    if aov.shape[-1] != 7:
        raise RuntimeError(f"unexpected AOV layout: {aov.shape[-1]} channels (mitsuba {mi.__version__})")
    pos, nrm, sidx = aov[..., :3].astype(np.float64), aov[..., 3:6].astype(np.float64), aov[..., 6]
    sidx = np.rint(sidx).astype(np.int64)  # 0: no surface; k: the (k−1)-th shape of the scene
    right, down, fwd = camera_basis(scene)
    rel = pos - np.asarray(scene.origin)
    hit = sidx > 0
    depth = np.where(hit, rel @ fwd, 0.0).astype(np.float32)
    normal = np.stack([nrm @ right, nrm @ down, nrm @ fwd], axis=-1)
    cam_pts = np.stack([rel @ right, rel @ down, rel @ fwd], axis=-1)
    normal = np.where(np.sum(normal * cam_pts, -1, keepdims=True) > 0, -normal, normal)
    normal /= np.maximum(np.linalg.norm(normal, axis=-1, keepdims=True), 1e-12)
    normal[~hit] = 0.0

    index_owner = np.full(len(mscene.shapes()) + 1, -2, dtype=np.int64)  # −2: no surface
    for i, shape in enumerate(mscene.shapes()):
        index_owner[i + 1] = owner[shape.id()]
    inst = index_owner[sidx]  # per pixel: object index, −1 floor, −2 nothing
    obj_class = np.array([CLASSES.index(o.shape) for o in scene.objects] + [0], dtype=np.uint8)
    semseg = np.where(inst == -1, CLASSES.index("floor"), obj_class[np.where(inst >= 0, inst, -1)])
    semseg = semseg.astype(np.uint8)  # objects by type, −1 floor, −2 (nothing) background

    boxes, visible = [], []
    for k, o in enumerate(scene.objects):
        ys, xs = np.nonzero(inst == k)
        if len(xs) < MIN_BOX_PIXELS:
            continue
        visible.append(k)
        boxes.append({"box": [float(xs.min()), float(ys.min()), float(xs.max() + 1), float(ys.max() + 1)],
                      "label": o.shape, "score": 1.0})
    info = scene.as_dict()
    info["visible"] = visible
    return {
        "rgb": rgb, "depth": depth, "normal": normal.astype(np.float32), "semseg": semseg,
        "det": Detections(boxes, image_size=(size, size)), "caption": caption(scene, visible),
        "camera": intrinsics(scene, size), "scene": info, "instances": inst.astype(np.int16),
    }
