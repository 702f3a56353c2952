"""A small numpy/Pillow renderer: perspective ground plane, soft shadows, shaded solids.

Objects are drawn far-to-near from the ray-marched templates of `shapes.py`, resampled
with an area filter (that is the anti-aliasing) and shaded with the scene's light. Besides
the picture it returns which object each pixel shows and its depth, so tests can check an
image against its caption without trusting the sampler.
"""

from __future__ import annotations

import functools
import io
import math
from dataclasses import dataclass

import numpy as np
from PIL import Image

from eqvl.errors import EqvlError
from eqvl.synth import geometry as geo
from eqvl.synth import shapes
from eqvl.synth.scene import Scene
from eqvl.synth.vocab import COLOURS

MIN_SIZE, MAX_SIZE = 32, 512

#: material -> (albedo factor, specular strength, shininess)
MATERIAL_LOOK = {"rubber": (1.0, 0.10, 8.0), "metal": (0.75, 0.65, 40.0)}


@dataclass
class Rendered:
    """An image plus, per pixel, the visible object's index (-1 = background) and depth."""

    image: np.ndarray  # (S, S, 3) uint8
    labels: np.ndarray  # (S, S) int16
    depth: np.ndarray  # (S, S) float32, camera depth in world units; inf on background
    amodal_area: list[int]  # per object: pixels it would cover with nothing in front

    def mask(self, index: int) -> np.ndarray:
        """Visible pixels of object `index`."""
        return self.labels == index

    def to_png(self, compress_level: int = 1) -> bytes:
        """Deterministic PNG bytes (same array, same Pillow/zlib -> same bytes)."""
        buf = io.BytesIO()
        Image.fromarray(self.image).save(buf, format="PNG", compress_level=compress_level)
        return buf.getvalue()


def check_size(size: int) -> int:
    if not MIN_SIZE <= int(size) <= MAX_SIZE:
        raise EqvlError(f"image size must be between {MIN_SIZE} and {MAX_SIZE} px, got {size}")
    return int(size)


def _light_dir(scene: Scene) -> np.ndarray:
    az, el = math.radians(scene.light.azimuth), math.radians(scene.light.elevation)
    return np.array([math.sin(az) * math.cos(el), math.sin(el), -math.cos(az) * math.cos(el)], np.float32)


@functools.lru_cache(maxsize=64)
def _pixel_rays(size: int, height: float, pitch: float, fov: float) -> tuple[np.ndarray, ...]:
    """Ground-plane hit (gx, gz, distance) for every pixel; gz = inf above the horizon."""
    f = 0.5 / math.tan(math.radians(fov) / 2)
    c = (np.arange(size, dtype=np.float64) + 0.5) / size
    u = ((c - 0.5) / f)[None, :]
    v = ((0.5 - c) / f)[:, None]
    p = math.radians(pitch)
    sp, cp = math.sin(p), math.cos(p)
    dy = -sp + v * cp
    with np.errstate(divide="ignore", invalid="ignore"):
        t = np.where(dy < -1e-6, height / -dy, np.inf)
    gx = t * u
    gz = t * (cp + v * sp)
    gz = np.where(np.isfinite(t), gz, np.inf)
    return gx.astype(np.float32), gz.astype(np.float32), t.astype(np.float32), v


def render_background(scene: Scene, size: int) -> np.ndarray:
    """The floor and backdrop, lit, without objects or shadows: (S, S, 3) float32."""
    cam, bg, light = scene.camera, scene.background, scene.light
    gx, gz, t, v = _pixel_rays(size, cam.height, cam.pitch, cam.fov)
    a = math.radians(bg.angle)
    ru = (gx * math.cos(a) - gz * math.sin(a)) / bg.scale
    rv = (gx * math.sin(a) + gz * math.cos(a)) / bg.scale
    f = 0.5 / math.tan(math.radians(cam.fov) / 2)
    # width of one pixel on the floor, in texture periods (for anti-aliased edges)
    fw = np.clip(t / (f * size * bg.scale) * 1.5, 1e-3, 1.0)
    if bg.style == "checker":
        s = np.sin(np.pi * ru) * np.sin(np.pi * rv)
        mix = np.clip(0.5 + s / (2 * np.pi * fw), 0, 1)
    elif bg.style == "tiles":
        du = np.abs(ru - np.round(ru))
        dv = np.abs(rv - np.round(rv))
        line = np.minimum(du, dv)
        mix = np.clip((0.04 + fw / 2 - line) / fw, 0, 1)
    elif bg.style == "stripes":
        s = np.sin(np.pi * ru)
        mix = np.clip(0.5 + s / (2 * np.pi * fw), 0, 1) * 0.6
    else:
        mix = np.zeros_like(gx)
    mix = np.where(np.isfinite(mix), mix, 0).astype(np.float32)
    floor = np.asarray(bg.floor, np.float32)
    floor2 = np.asarray(bg.floor2, np.float32)
    tex = floor[None, None, :] * (1 - mix[..., None]) + floor2[None, None, :] * mix[..., None]
    # light: overall level from the light's elevation, plus a soft spot around the scene centre
    level = light.ambient + light.intensity * math.sin(math.radians(light.elevation))
    cz = cam.height / math.tan(math.radians(cam.pitch))
    dist = np.sqrt(gx**2 + (gz - cz) ** 2)
    spot = 1.05 - 0.35 * np.clip(dist / (2.2 * cz), 0, 1)
    ground = tex * (level * spot)[..., None]
    # the platform ends at bg.depth; beyond it (and above the horizon) the backdrop
    wall = np.asarray(bg.backdrop, np.float32)[None, None, :] * (0.8 + 0.4 * np.clip(v + 0.5, 0, 1))[..., None]
    wall = np.broadcast_to(wall, ground.shape)
    edge = np.clip((bg.depth - gz) / np.maximum(fw * bg.scale * 2, 1e-3), 0, 1)
    edge = np.where(np.isfinite(gz), edge, 0)[..., None]
    out = ground * edge + wall * (1 - edge)
    return np.ascontiguousarray(out, dtype=np.float32)


@functools.lru_cache(maxsize=4096)
def _sprite(category: str, yaw: int, pitch_i: int, w: int, h: int) -> tuple[np.ndarray, ...]:
    """Template resampled to (h, w): alpha, normals (3), depth; area filter when shrinking."""
    tp = shapes.template(category, yaw, pitch_i)
    th, tw = tp.alpha.shape
    method = Image.Resampling.BOX if w <= tw else Image.Resampling.BILINEAR

    def rs(arr: np.ndarray) -> np.ndarray:
        return np.asarray(Image.fromarray(arr).resize((w, h), method), dtype=np.float32)

    alpha = np.clip(rs(tp.alpha), 0, 1)
    safe = np.maximum(alpha, 1e-6)
    normals = np.stack([rs(tp.normals[i]) for i in range(3)]) / safe
    norm = np.maximum(np.sqrt((normals**2).sum(0)), 1e-6)
    normals = normals / norm
    depth = rs(tp.depth) / safe
    return alpha, normals, depth


def _draw_shadow(img: np.ndarray, cx: float, cy: float, rx: float, ry: float, strength: float) -> None:
    """Darken a soft ellipse (pixel units) on the floor."""
    size = img.shape[0]
    x0, x1 = max(int(cx - 2 * rx), 0), min(int(cx + 2 * rx) + 1, size)
    y0, y1 = max(int(cy - 2 * ry), 0), min(int(cy + 2 * ry) + 1, size)
    if x0 >= x1 or y0 >= y1 or rx <= 0 or ry <= 0:
        return
    xs = ((np.arange(x0, x1, dtype=np.float32) + 0.5 - cx) / rx) ** 2
    ys = ((np.arange(y0, y1, dtype=np.float32) + 0.5 - cy) / ry) ** 2
    e = ys[:, None] + xs[None, :]
    shade = 1.0 - strength * np.exp(-2.2 * e)
    img[y0:y1, x0:x1] *= shade[..., None]


def render_scene(scene: Scene, size: int, background: np.ndarray | None = None) -> Rendered:
    """Draw `scene` at size x size px. Pass `background` (from `render_background`) to reuse it."""
    size = check_size(size)
    img = (render_background(scene, size) if background is None else background).copy()
    labels = np.full((size, size), -1, np.int16)
    depth = np.full((size, size), np.inf, np.float32)
    light = _light_dir(scene)
    cam = scene.camera
    f = geo.focal(cam)
    n = len(scene.objects)
    views = [geo.view_of(scene, i) for i in range(n)]
    # soft shadows: cast away from the light by objects standing on the ground
    az, el = math.radians(scene.light.azimuth), math.radians(max(scene.light.elevation, 15.0))
    for i, obj in enumerate(scene.objects):
        if obj.support is not None:
            continue
        dims = geo.SHAPES[obj.category]
        s = geo.scale_of(obj)
        tall = dims.height * s + sum(
            geo.SHAPES[o.category].height * geo.scale_of(o) for o in scene.objects if o.support == i
        )
        reach = min(0.5 * tall / math.tan(el), 1.2 * s)
        wx, wz = obj.x - math.sin(az) * reach, obj.z + math.cos(az) * reach
        sx, sy, zc = geo.project(cam, wx, 0.0, wz)
        k = f / zc * size
        pitch = math.radians(geo.view_elevation(scene, i))
        rx = (dims.radius * s + 0.25 * reach) * k
        ry = rx * math.sin(pitch)
        _draw_shadow(img, sx * size, sy * size, rx, ry, 0.45)
        bx, by, _ = geo.project(cam, obj.x, 0.0, obj.z)
        _draw_shadow(img, bx * size, by * size, dims.radius * s * k * 0.8, dims.radius * s * k * 0.8 * math.sin(pitch), 0.35)
    # objects far to near; stacked objects after their support
    order = sorted(range(n), key=lambda i: (-geo.ground_anchor(scene, i)[1], geo.base_height(scene, i)))
    areas = [0] * n
    eye = np.array([0.0, math.sin(math.radians(cam.pitch)), -math.cos(math.radians(cam.pitch))], np.float32)
    half = light + eye
    half /= np.linalg.norm(half)
    for i in order:
        obj = scene.objects[i]
        sx, sy, zc, k = views[i]
        s = geo.scale_of(obj)
        ppu = k * size * s  # pixels per unit-template world unit
        factor = ppu / shapes.RES
        tp = shapes.template(obj.category, obj.yaw, shapes.pitch_index(geo.view_elevation(scene, i)))
        th, tw = tp.alpha.shape
        w, h = max(int(round(tw * factor)), 1), max(int(round(th * factor)), 1)
        x0 = int(round(sx * size - shapes.U_HALF * ppu))
        y0 = int(round(sy * size - shapes.V_TOP * ppu))
        pitch_i = shapes.pitch_index(geo.view_elevation(scene, i))
        alpha, normals, dep = _sprite(obj.category, obj.yaw, pitch_i, w, h)
        # clip to the image
        cx0, cy0 = max(x0, 0), max(y0, 0)
        cx1, cy1 = min(x0 + w, size), min(y0 + h, size)
        if cx0 >= cx1 or cy0 >= cy1:
            continue
        sl = (slice(cy0 - y0, cy1 - y0), slice(cx0 - x0, cx1 - x0))
        a = alpha[sl]
        nrm = normals[:, sl[0], sl[1]]
        albedo_f, ks, shin = MATERIAL_LOOK.get(obj.material, MATERIAL_LOOK["rubber"])
        albedo = np.asarray(COLOURS[obj.colour], np.float32) * albedo_f
        ndl = np.maximum(np.tensordot(light, nrm, axes=1), 0)
        ndh = np.maximum(np.tensordot(half, nrm, axes=1), 0)
        lum = scene.light.ambient + scene.light.intensity * ndl
        spec = ks * scene.light.intensity * ndh**shin
        col = albedo[None, None, :] * lum[..., None] + spec[..., None]
        region = img[cy0:cy1, cx0:cx1]
        a3 = a[..., None]
        region *= 1 - a3
        region += col * a3
        solid = a >= 0.5
        areas[i] = int(solid.sum())
        labels[cy0:cy1, cx0:cx1][solid] = i
        depth[cy0:cy1, cx0:cx1][solid] = zc + dep[sl][solid] * s
    image = (np.clip(img, 0, 1) * 255 + 0.5).astype(np.uint8)
    return Rendered(image=image, labels=labels, depth=depth, amodal_area=areas)
