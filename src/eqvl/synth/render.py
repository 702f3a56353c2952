"""A small numpy/Pillow renderer: perspective ground plane, soft shadows, shaded solids.

Objects are drawn far-to-near onto the floor (floor.py) from the ray-marched templates of
`shapes.py`, resampled with an area filter (sprites.py) and Blinn-Phong shaded with the
scene's light. Besides
the picture it returns which object each pixel shows and its depth, so tests can check an
image against its caption without trusting the sampler.

Pictures are composed as channel-first float planes (3, S, S): every per-pixel factor
(texture, light, shadow, coverage) then multiplies contiguous planes, where an (S, S, 3)
layout would broadcast over a trailing axis of 3, several times slower in numpy. Only the
finished uint8 image is interleaved.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass

import numpy as np

from eqvl.errors import EqvlError
from eqvl.synth import geometry as geo
from eqvl.synth import shapes
from eqvl.synth.floor import floor_planes, floor_with_shadows, render_background, shade_map, shade_maps, shadow_blobs
from eqvl.synth.png import encode_png
from eqvl.synth.scene import Scene
from eqvl.synth.sprites import sprite, warm_up
from eqvl.synth.vocab import COLOURS

__all__ = ["Rendered", "check_size", "encode_png", "render_background", "render_scene", "render_twin", "warm_up"]

MIN_SIZE, MAX_SIZE = 32, 512

#: material -> (albedo factor, specular strength, shininess)
MATERIAL_LOOK = {"rubber": (1.0, 0.10, 8.0), "metal": (0.75, 0.65, 40.0)}


@dataclass
class Rendered:
    """An image plus, per pixel, the visible object's index (-1 = background) and depth."""

    image: np.ndarray  # (S, S, 3) uint8
    labels: np.ndarray | None  # (S, S) int16; None when rendered with masks=False
    depth: np.ndarray | None  # (S, S) float32, camera depth in world units; inf on background
    amodal_area: list[int]  # per object: pixels of its own sprite with coverage >= 0.5 (0s when masks=False)

    def mask(self, index: int) -> np.ndarray:
        """Visible pixels of object `index`."""
        if self.labels is None:
            raise EqvlError("this image was rendered with masks=False: it has no object masks")
        return np.asarray(self.labels == index)

    def to_png(self, compress_level: int = 1) -> bytes:
        """Deterministic PNG bytes (same array and zlib -> same bytes)."""
        return encode_png(self.image, compress_level)


def check_size(size: int) -> int:
    if not MIN_SIZE <= int(size) <= MAX_SIZE:
        raise EqvlError(f"image size must be between {MIN_SIZE} and {MAX_SIZE} px, got {size}")
    return int(size)


@functools.lru_cache(maxsize=64)
def _albedo(colour: str, material: str) -> np.ndarray:
    """(3, 1, 1) float32, to scale a shading plane into colour planes."""
    albedo = np.asarray(COLOURS[colour], np.float32) * MATERIAL_LOOK.get(material, MATERIAL_LOOK["rubber"])[0]
    return albedo[:, None, None]


@functools.lru_cache(maxsize=8)
def _shading_matrix(azimuth: float, elevation: float, pitch: float) -> np.ndarray:
    """(3, 2): unit vectors towards the light and halfway between light and eye (Blinn-Phong),
    world frame; cached because both scenes of a twin share camera and light."""
    az, el = math.radians(azimuth), math.radians(elevation)
    light = (math.sin(az) * math.cos(el), math.sin(el), -math.cos(az) * math.cos(el))
    p = math.radians(pitch)
    h = (light[0], light[1] + math.sin(p), light[2] - math.cos(p))
    norm = math.sqrt(h[0] ** 2 + h[1] ** 2 + h[2] ** 2)
    half = (h[0] / norm, h[1] / norm, h[2] / norm)
    return np.array([light, half], np.float32).T


#: template size in pixels, fixed
_TEMPLATE_H, _TEMPLATE_W = shapes.template_shape()


def _object_layer(scene: Scene, i: int, size: int, lh: np.ndarray) -> tuple | None:
    """Placement, coverage, colour planes and depth of one object's sprite, clipped to the image."""
    obj, cam = scene.objects[i], scene.camera
    # geo.view_of and geo.view_elevation, sharing the base height
    y = geo.base_height(scene, i)
    sx, sy, zc = geo.project(cam, obj.x, y, obj.z)
    k = geo.focal(cam) / zc
    elevation = math.degrees(math.atan2(cam.height - y, max(math.hypot(obj.x, obj.z), 1e-3)))
    s = geo.scale_of(obj)
    ppu = k * size * s  # pixels per unit-template world unit
    factor = ppu / shapes.RES
    pitch_i = shapes.pitch_index(elevation)
    w, h = max(int(round(_TEMPLATE_W * factor)), 1), max(int(round(_TEMPLATE_H * factor)), 1)
    x0 = int(round(sx * size - shapes.U_HALF * ppu))
    y0 = int(round(sy * size - shapes.V_TOP * ppu))
    cx0, cy0 = max(x0, 0), max(y0, 0)
    cx1, cy1 = min(x0 + w, size), min(y0 + h, size)
    if cx0 >= cx1 or cy0 >= cy1:
        return None
    yaw = obj.yaw % len(shapes.YAWS) if obj.category in shapes.YAWED else 0
    alpha, normals, dep = sprite(obj.category, yaw, pitch_i, w, h)
    sl = (slice(cy0 - y0, cy1 - y0), slice(cx0 - x0, cx1 - x0))
    a = alpha[sl]
    # both dot products (normal . light, normal . half) in one call; einsum, not BLAS
    d = np.einsum("chw,cd->dhw", normals[:, sl[0], sl[1]], lh)
    np.maximum(d, 0, out=d)
    ndl, ndh = d[0], d[1]
    _, ks, shin = MATERIAL_LOOK.get(obj.material, MATERIAL_LOOK["rubber"])
    ndl *= scene.light.intensity
    ndl += scene.light.ambient
    spec = np.power(ndh, shin, out=ndh)
    spec *= ks * scene.light.intensity
    col = ndl * _albedo(obj.colour, obj.material)  # (3, h, w)
    col += spec
    # masks (which pixels it owns, at what depth) are derived only when asked for
    return (cy0, cy1, cx0, cx1), a, col, (dep[sl], zc, s)


def _draw_order(scene: Scene) -> list[int]:
    """Objects far to near (camera depth of their ground point); stacked objects after their support."""
    cam, objects = scene.camera, scene.objects
    far = [-geo.project(cam, o.x, 0.0, o.z)[2] for o in objects]  # minus geo.ground_anchor's depth
    return sorted(range(len(objects)), key=lambda i: (far[i], geo.base_height(scene, i)))


def _draw(scene: Scene, size: int, img: np.ndarray, cache: dict | None, masks: bool) -> Rendered:
    """Composite the objects over `img` ((3, S, S) floor planes, drawn into) and finish the picture.

    `cache` (shared by the two scenes of a twin) keeps each object's shaded layer, so an
    object that did not change is shaded once.
    """
    labels = np.full((size, size), -1, np.int16) if masks else None
    depth = np.full((size, size), np.inf, np.float32) if masks else None
    n = len(scene.objects)
    areas = [0] * n
    cam, light = scene.camera, scene.light
    setting = (tuple(vars(cam).values()), tuple(vars(light).values()), size)
    lh = _shading_matrix(light.azimuth, light.elevation, cam.pitch)
    for i in _draw_order(scene):
        key = (tuple(vars(scene.objects[i]).values()), geo.base_height(scene, i), setting)
        layer = cache.get(key) if cache is not None else None
        if layer is None:
            layer = _object_layer(scene, i, size, lh)
            if cache is not None:
                cache[key] = layer
        if layer is None:
            continue
        (y0, y1, x0, x1), a, col, (dep, zc, s) = layer
        region = img[:, y0:y1, x0:x1]
        region += a * (col - region)
        if labels is not None and depth is not None:  # masks=True
            solid = a >= 0.5
            areas[i] = int(solid.sum())
            labels[y0:y1, x0:x1][solid] = i
            depth[y0:y1, x0:x1][solid] = zc + dep[solid] * s
    return Rendered(image=_to_rgb8(img), labels=labels, depth=depth, amodal_area=areas)


def _to_rgb8(img: np.ndarray) -> np.ndarray:
    """(3, S, S) float planes in [0, 1] -> (S, S, 3) uint8, rounded; `img` is used up."""
    np.clip(img, 0, 1, out=img)
    img *= 255
    img += 0.5
    planes = img.astype(np.uint8)  # truncating
    rgb = np.empty(img.shape[1:] + (3,), np.uint8)
    for c in range(3):
        rgb[..., c] = planes[c]
    return rgb


def render_scene(
    scene: Scene,
    size: int,
    background: np.ndarray | None = None,
    cache: dict | None = None,
    *,
    shadows: bool = True,
    masks: bool = True,
) -> Rendered:
    """Draw `scene` at size x size px.

    `background` ((S, S, 3), from `render_background`) and one `cache` dict can be shared
    by several scenes with the same floor; `render_twin` does that for the two scenes of a
    twin. `shadows=False` when the background already carries them; `masks=False` skips
    the label and depth maps (the writer does not need them).
    """
    size = check_size(size)
    blobs = shadow_blobs(scene) if shadows else []
    if background is None:
        img = floor_with_shadows(scene, size, blobs)
    else:
        img = np.ascontiguousarray(background.transpose(2, 0, 1))  # a copy, drawn into
        if blobs:
            img *= shade_map(blobs, size)
    return _draw(scene, size, img, cache, masks)


def render_twin(scenes: tuple[Scene, Scene] | list[Scene], size: int, *, masks: bool = True) -> list[Rendered]:
    """Render the scenes of a twin (same camera, light, floor) sharing the common work: the
    floor, the shadow blobs and the shading of unchanged objects. Same pixels as
    `render_scene` on each scene alone."""
    size = check_size(size)
    floor = floor_planes(scenes[0], size)
    shades = shade_maps([shadow_blobs(scene) for scene in scenes], size)
    cache: dict = {}
    return [
        _draw(scene, size, floor.copy() if shade is None else floor * shade, cache, masks)
        for scene, shade in zip(scenes, shades)
    ]
