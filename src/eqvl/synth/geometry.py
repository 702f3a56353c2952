"""Camera projection, object extents and the spatial relations, in one place.

The sampler, the renderer and the caption checker all call these functions, so
"A is left of B" means the same thing when a scene is built, drawn and checked.
Screen coordinates are normalised: the image is the unit square, (0, 0) top-left.
Relations are three-valued (True / False / None = too close to call): a caption is
only ever used as a positive when True and as a negative when False.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

from eqvl.synth.scene import Camera, Obj, Scene
from eqvl.synth.vocab import SIZE_SCALE


@dataclass(frozen=True)
class ShapeDims:
    """Extents of a category at unit scale (world units)."""

    radius: float  # footprint radius, for collisions
    half_width: float  # screen half-width, for boxes
    half_depth: float  # footprint half-depth along z
    height: float
    flat_top: bool  # can carry another object


SHAPES: dict[str, ShapeDims] = {
    "cube": ShapeDims(0.57, 0.57, 0.57, 0.80, True),
    "sphere": ShapeDims(0.50, 0.50, 0.50, 1.00, False),
    "cylinder": ShapeDims(0.45, 0.45, 0.45, 0.90, True),
    "cone": ShapeDims(0.50, 0.50, 0.50, 1.00, False),
    "pyramid": ShapeDims(0.64, 0.64, 0.64, 0.85, False),
    "torus": ShapeDims(0.57, 0.57, 0.57, 0.40, False),
    "star": ShapeDims(0.56, 0.56, 0.25, 1.00, False),
    "capsule": ShapeDims(0.56, 0.56, 0.56, 0.50, False),
}

#: relation thresholds: screen-x gap (fraction of image width) and depth gap (world units)
H_TRUE, H_FALSE = 0.10, 0.03
D_TRUE, D_FALSE = 1.3, 0.35


@functools.lru_cache(maxsize=256)
def _consts(pitch: float, fov: float) -> tuple[float, float, float]:
    p = math.radians(pitch)
    return math.sin(p), math.cos(p), 0.5 / math.tan(math.radians(fov) / 2)


def focal(cam: Camera) -> float:
    """Focal length in image widths."""
    return _consts(cam.pitch, cam.fov)[2]


def project(cam: Camera, x: float, y: float, z: float) -> tuple[float, float, float]:
    """World point -> (screen x, screen y, camera depth)."""
    sp, cp, f = _consts(cam.pitch, cam.fov)
    ry = y - cam.height
    yc = ry * cp + z * sp
    zc = -ry * sp + z * cp
    return 0.5 + f * x / zc, 0.5 - f * yc / zc, zc


def ground_from_screen(cam: Camera, sx: float, sy: float) -> tuple[float, float] | None:
    """The ground point (x, z) seen at screen (sx, sy), or None above the horizon."""
    sp, cp, f = _consts(cam.pitch, cam.fov)
    u, v = (sx - 0.5) / f, (0.5 - sy) / f
    # ray = forward + u * right + v * up ; forward=(0,-sp,cp), up=(0,cp,sp)
    dy = -sp + v * cp
    if dy >= -1e-6:
        return None
    t = cam.height / -dy
    return t * u, t * (cp + v * sp)


def scale_of(obj: Obj) -> float:
    return SIZE_SCALE[obj.size]


def base_height(scene: Scene, index: int) -> float:
    """Height of the object's base: 0 on the ground, the support's top when stacked."""
    obj = scene.objects[index]
    if obj.support is None:
        return 0.0
    sup = scene.objects[obj.support]
    return base_height(scene, obj.support) + SHAPES[sup.category].height * scale_of(sup)


def view_of(scene: Scene, index: int) -> tuple[float, float, float, float]:
    """(screen x, screen y, camera depth, screen units per world unit) of the object's base point."""
    obj = scene.objects[index]
    sx, sy, zc = project(scene.camera, obj.x, base_height(scene, index), obj.z)
    return sx, sy, zc, focal(scene.camera) / zc


def view_elevation(scene: Scene, index: int) -> float:
    """Angle (degrees) between the camera ray to the object and the ground."""
    obj = scene.objects[index]
    y = base_height(scene, index)
    dist = math.hypot(obj.x, obj.z)
    return math.degrees(math.atan2(scene.camera.height - y, max(dist, 1e-3)))


def screen_box(scene: Scene, index: int) -> tuple[float, float, float, float]:
    """Approximate screen bounding box (x0, y0, x1, y1) of an object."""
    obj, cam = scene.objects[index], scene.camera
    y = 0.0 if obj.support is None else base_height(scene, index)
    return _box(obj.category, obj.size, obj.x, y, obj.z, cam.height, cam.pitch, cam.fov)


def grounded_box(obj: Obj, cam: Camera) -> tuple[float, float, float, float]:
    """`screen_box` of an object standing on the ground, before it joins a scene."""
    return _box(obj.category, obj.size, obj.x, 0.0, obj.z, cam.height, cam.pitch, cam.fov)


@functools.lru_cache(maxsize=8192)
def _box(category: str, size: str, x: float, y: float, z: float, height: float, pitch: float, fov: float) -> tuple[float, float, float, float]:
    # memoised: placement asks for the boxes of the same objects many times
    dims = SHAPES[category]
    sp, cp, f = _consts(pitch, fov)
    ry = y - height
    yc, zc = ry * cp + z * sp, -ry * sp + z * cp
    sx, sy = 0.5 + f * x / zc, 0.5 - f * yc / zc
    s = SIZE_SCALE[size] * f / zc
    e = math.atan2(height - y, max(math.hypot(x, z), 1e-3))
    below = dims.half_depth * math.sin(e) * s
    above = (dims.height * math.cos(e) + dims.half_depth * math.sin(e)) * s
    return sx - dims.half_width * s, sy - above, sx + dims.half_width * s, sy + below


def box_overlap(a: tuple[float, float, float, float], b: tuple[float, float, float, float]) -> float:
    """Intersection area over the smaller box's area."""
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    if w <= 0 or h <= 0:
        return 0.0
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return w * h / max(small, 1e-9)


def ground_anchor(scene: Scene, index: int) -> tuple[float, float]:
    """(screen x, camera depth) of the ground point under the object (its stack's foot)."""
    obj = scene.objects[index]
    sx, _, zc = project(scene.camera, obj.x, 0.0, obj.z)
    return sx, zc


def relation(scene: Scene, a: int, b: int, rel: str) -> bool | None:
    """Is `rel`(a, b) true (True), false (False) or too close to call (None)?"""
    if a == b:
        return False
    if rel == "on":
        return scene.objects[a].support == b
    return ground_relation(rel, ground_anchor(scene, a), ground_anchor(scene, b))


def ground_relation(rel: str, anchor_a: tuple[float, float], anchor_b: tuple[float, float]) -> bool | None:
    """`relation` for left/right/front/behind from the two ground anchors (sx, zc)."""
    sa, za = anchor_a
    sb, zb = anchor_b
    if rel in ("left", "right"):
        gap = (sb - sa) if rel == "left" else (sa - sb)
        return True if gap >= H_TRUE else (False if gap <= H_FALSE else None)
    if rel in ("front", "behind"):
        gap = (zb - za) if rel == "front" else (za - zb)
        return True if gap >= D_TRUE else (False if gap <= D_FALSE else None)
    raise ValueError(f"unknown relation {rel!r}")
