"""Per-category sprite templates, ray-marched once from signed distance functions.

Rendering a solid per image would be slow in numpy; instead each (category, yaw, view
pitch) is ray-marched once at high resolution into coverage, world-space normals and
depth. The renderer resamples and shades these per image (a 2.5D sprite renderer), so
shapes are real 3D solids under any light while each image costs a few array ops.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

#: template resolution (pixels per world unit at unit scale) and extents (world units)
RES = 96
U_HALF = 0.72
V_TOP, V_BOTTOM = 1.22, -0.62
#: pre-rendered view elevations (degrees) and object yaws (degrees) for non-round shapes
PITCHES = (24.0, 36.0, 48.0, 60.0)
YAWS = (18.0, 36.0)
YAWED = frozenset({"cube", "pyramid", "star", "capsule"})


@dataclass(frozen=True)
class Template:
    """Coverage (H, W), normals (3, H, W; world frame), depth (H, W; world units along the view)."""

    alpha: np.ndarray
    normals: np.ndarray
    depth: np.ndarray
    pitch: float

    @property
    def stack(self) -> np.ndarray:
        """(5, H, W): alpha, normals, depth (zero outside the solid), for one-shot resampling."""
        return _stack(self)


def _length(*parts: np.ndarray) -> np.ndarray:
    return np.sqrt(sum(p * p for p in parts))


def _box(x, y, z, bx, by, bz, round_=0.0):
    qx, qy, qz = np.abs(x) - bx + round_, np.abs(y) - by + round_, np.abs(z) - bz + round_
    outside = _length(np.maximum(qx, 0), np.maximum(qy, 0), np.maximum(qz, 0))
    inside = np.minimum(np.maximum(qx, np.maximum(qy, qz)), 0)
    return outside + inside - round_


def _star2d(px, py, r, rf):
    k1x, k1y = 0.809016994375, -0.587785252292
    k2x, k2y = -k1x, k1y
    px = np.abs(px)
    d = np.maximum(k1x * px + k1y * py, 0) * 2
    px, py = px - d * k1x, py - d * k1y
    d = np.maximum(k2x * px + k2y * py, 0) * 2
    px, py = px - d * k2x, py - d * k2y
    px = np.abs(px)
    py = py - r
    bax, bay = rf * -k1y - 0.0, rf * k1x - 1.0
    h = np.clip((px * bax + py * bay) / (bax * bax + bay * bay), 0.0, r)
    return _length(px - bax * h, py - bay * h) * np.sign(py * bax - px * bay)


def sdf(category: str, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Signed distance to a unit-scale solid standing on y=0 (object frame)."""
    if category == "cube":
        return _box(x, y - 0.4, z, 0.4, 0.4, 0.4, round_=0.04)
    if category == "sphere":
        return _length(x, y - 0.5, z) - 0.5
    if category == "cylinder":
        r = _length(x, z)
        dx, dy = r - 0.45, np.abs(y - 0.45) - 0.45
        return _length(np.maximum(dx, 0), np.maximum(dy, 0)) + np.minimum(np.maximum(dx, dy), 0)
    if category == "cone":
        r = _length(x, z)
        h, rad = 1.0, 0.5
        side = (r * h + y * rad - rad * h) / math.hypot(h, rad)
        return np.maximum(side, -y)
    if category == "pyramid":
        a, h = 0.45, 0.85
        n = math.hypot(h, a)
        sx = (np.abs(x) * h + y * a - a * h) / n
        sz = (np.abs(z) * h + y * a - a * h) / n
        return np.maximum(np.maximum(sx, sz), -y)
    if category == "torus":
        q = _length(x, z) - 0.37
        return _length(q, y - 0.2) - 0.2
    if category == "star":
        cy = 0.55 * 0.809016994375
        d2 = _star2d(x, y - cy, 0.55, 0.5)
        wz = np.abs(z) - 0.12
        return np.minimum(np.maximum(d2, wz), 0) + _length(np.maximum(d2, 0), np.maximum(wz, 0)) - 0.02
    if category == "capsule":
        cx = np.clip(x, -0.3, 0.3)
        return _length(x - cx, y - 0.25, z) - 0.25
    raise KeyError(f"unknown category {category!r}")


def _march(category: str, yaw: float, pitch: float, res: int) -> Template:
    w = int(round(2 * U_HALF * res))
    h = int(round((V_TOP - V_BOTTOM) * res))
    u = -U_HALF + (np.arange(w) + 0.5) / res
    v = V_TOP - (np.arange(h) + 0.5) / res
    grid_u, grid_v = np.meshgrid(u, v)
    uu, vv = grid_u.ravel(), grid_v.ravel()
    p = math.radians(pitch)
    fwd = np.array([0.0, -math.sin(p), math.cos(p)])
    up = np.array([0.0, math.cos(p), math.sin(p)])
    far = 3.0
    ox = uu - far * fwd[0]
    oy = vv * up[1] - far * fwd[1]
    oz = vv * up[2] - far * fwd[2]
    c, s = math.cos(math.radians(yaw)), math.sin(math.radians(yaw))

    def field(px, py, pz):
        # rotate world -> object frame (yaw about y)
        return sdf(category, c * px - s * pz, py, s * px + c * pz)

    n = uu.size
    t = np.zeros(n)
    idx = np.arange(n)
    hit = np.zeros(n, bool)
    eps = 0.25 / res
    for _ in range(96):
        if idx.size == 0:
            break
        tt = t[idx]
        d = field(ox[idx] + tt * fwd[0], oy[idx] + tt * fwd[1], oz[idx] + tt * fwd[2])
        done = d < eps
        hit[idx[done]] = True
        t[idx] = tt + np.where(done, 0, d)
        keep = ~done & (t[idx] < 2 * far)
        idx = idx[keep]
    hi = np.nonzero(hit)[0]
    px, py, pz = ox[hi] + t[hi] * fwd[0], oy[hi] + t[hi] * fwd[1], oz[hi] + t[hi] * fwd[2]
    e = 1e-3
    gx = field(px + e, py, pz) - field(px - e, py, pz)
    gy = field(px, py + e, pz) - field(px, py - e, pz)
    gz = field(px, py, pz + e) - field(px, py, pz - e)
    norm = np.maximum(_length(gx, gy, gz), 1e-9)
    normals = np.zeros((3, n), np.float32)
    normals[0, hi], normals[1, hi], normals[2, hi] = gx / norm, gy / norm, gz / norm
    depth = np.zeros(n, np.float32)
    depth[hi] = t[hi] - far
    return Template(
        alpha=hit.reshape(h, w).astype(np.float32),
        normals=normals.reshape(3, h, w),
        depth=depth.reshape(h, w),
        pitch=pitch,
    )


_STACKS: dict[int, np.ndarray] = {}


def _stack(tp: Template) -> np.ndarray:
    key = id(tp)
    if key not in _STACKS:
        _STACKS[key] = np.concatenate([tp.alpha[None], tp.normals, tp.depth[None]]).astype(np.float32)
    return _STACKS[key]


#: midpoints between neighbouring PITCHES: an elevation up to a midpoint (a tie included)
#: is closest to the lower pitch
_PITCH_SPLITS = tuple((a + b) / 2 for a, b in zip(PITCHES, PITCHES[1:]))


def pitch_index(elevation: float) -> int:
    """The pre-rendered pitch closest to a view elevation (the lower one on a tie)."""
    for i, split in enumerate(_PITCH_SPLITS):
        if elevation <= split:
            return i
    return len(PITCHES) - 1


@functools.lru_cache(maxsize=None)
def template(category: str, yaw_index: int, pitch_idx: int) -> Template:
    """The cached template; round shapes ignore the yaw."""
    yaw = YAWS[yaw_index % len(YAWS)] if category in YAWED else 0.0
    return _march(category, yaw, PITCHES[pitch_idx], RES)


def warm_up(categories: tuple[str, ...]) -> None:
    """Build every template now (before forking workers, so they inherit them)."""
    for cat in categories:
        for yi in range(len(YAWS) if cat in YAWED else 1):
            for pi in range(len(PITCHES)):
                template(cat, yi, pi)


def template_shape() -> tuple[int, int]:
    """(height, width) of every template, in template pixels."""
    return int(round((V_TOP - V_BOTTOM) * RES)), int(round(2 * U_HALF * RES))
