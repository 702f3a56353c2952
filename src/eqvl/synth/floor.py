"""The floor: perspective ground plane, backdrop, lighting falloff and soft shadows.

A pixel's floor depth depends only on its row, so most terms are (S, 1) columns; shadows
are blurry, so they are evaluated on a coarse grid and upsampled. Shared by both images
of a twin (only the shadows of moved objects differ).
"""

from __future__ import annotations

import functools
import math

import numpy as np
from PIL import Image

from eqvl.synth import geometry as geo
from eqvl.synth.scene import Background, Scene


@functools.lru_cache(maxsize=8)
def _grid(size: int) -> tuple[np.ndarray, np.ndarray]:
    """Pixel centres (S,) in image widths and the vignette profile (S,): fixed per size."""
    c = (np.arange(size, dtype=np.float32) + 0.5) / size
    centred = (c - 0.5) * 2
    return c, 1.0 - 0.16 * centred * centred


def background_planes(scene: Scene, size: int) -> np.ndarray:
    """The floor and backdrop, lit, without objects or shadows: (3, S, S) float32 planes.

    Channel-first, so the per-pixel terms (texture mix, light) multiply whole contiguous
    planes instead of broadcasting over a trailing axis of 3 (several times slower in numpy).
    The floor depth of a pixel depends only on its row, so most terms are (S, 1) columns.
    """
    cam, bg, light = scene.camera, scene.background, scene.light
    f = geo.focal(cam)
    c, fall = _grid(size)
    u = ((c - 0.5) / f)[None, :]
    v = ((0.5 - c) / f)[:, None]
    p = math.radians(cam.pitch)
    sp, cp = math.sin(p), math.cos(p)
    dy = -sp + v * cp
    t, gz = _floor_depths(cam.height, dy, v, sp, cp)
    # width of one pixel on the floor, in texture periods (for anti-aliased edges)
    fw = np.clip(t / (f * size * bg.scale) * 1.5, 1e-3, 1.0)
    mix = _texture(bg, t, u, gz, fw)
    floor = np.asarray(bg.floor, np.float32)[:, None, None]
    # light: an overall level from the light's elevation, times a soft vignette (separable,
    # so one outer product)
    level = light.ambient + light.intensity * math.sin(math.radians(light.elevation))
    lit = (fall[:, None] * (1.05 * level)) * fall[None, :]  # (S, S)
    if mix is None:
        ground = lit * floor
    else:
        ground = mix * (np.asarray(bg.floor2, np.float32)[:, None, None] - floor)
        ground += floor
        ground *= lit
    # the platform ends at bg.depth; beyond it (and above the horizon) the backdrop. Only
    # the top rows can be past the edge (depth grows upwards), so blend just those.
    edge = np.clip((bg.depth - gz) / np.maximum(fw * bg.scale * 2, 1e-3), 0, 1)  # (S, 1)
    rows = int(np.count_nonzero(edge[:, 0] < 1))
    if rows:
        wall = np.asarray(bg.backdrop, np.float32)[:, None, None] * (0.8 + 0.4 * np.clip(v[:rows] + 0.5, 0, 1))
        top = ground[:, :rows]
        top -= wall
        top *= edge[:rows]
        top += wall
    return ground


def _floor_depths(height: float, dy: np.ndarray, v: np.ndarray, sp: float, cp: float) -> tuple[np.ndarray, np.ndarray]:
    """Per row (S, 1): ray length to the floor and its depth; 1e4 for rows above the horizon.

    The usual cameras see no horizon, so every row hits and the masked form (same values)
    is skipped.
    """
    hit = dy < -1e-4
    if hit.all():
        t = height / -dy
        return t, t * (cp + v * sp)
    t = np.where(hit, height / np.where(hit, -dy, 1), 1e4).astype(np.float32)
    return t, np.where(hit, t * (cp + v * sp), 1e4).astype(np.float32)


def _texture(bg: Background, t: np.ndarray, u: np.ndarray, gz: np.ndarray, fw: np.ndarray) -> np.ndarray | None:
    """The floor's second-colour weight (S, S) for its texture style; None when plain.

    Texture coordinates (gx * ca - gz * sa, gx * sa + gz * ca) with gx = t * u: an outer
    product minus a column each, so few (S, S) temporaries.
    """
    a = math.radians(bg.angle)
    ca, sa = math.cos(a) / bg.scale, math.sin(a) / bg.scale
    if bg.style == "checker":
        pi = np.float32(np.pi)
        s = t * (u * (pi * ca))
        s -= gz * (pi * sa)
        np.sin(s, out=s)
        s2 = t * (u * (pi * sa))
        s2 += gz * (pi * ca)
        np.sin(s2, out=s2)
        s *= s2
        s *= 1 / (2 * np.pi * fw)
        s += 0.5
        return np.clip(s, 0, 1, out=s)
    if bg.style == "tiles":
        ru = t * (u * ca)
        ru -= gz * sa
        rv = t * (u * sa)
        rv += gz * ca
        ru -= np.round(ru)
        rv -= np.round(rv)
        line = np.minimum(np.abs(ru, out=ru), np.abs(rv, out=rv), out=ru)
        return np.clip((0.04 + fw / 2 - line) / fw, 0, 1)
    if bg.style == "stripes":
        pi = np.float32(np.pi)
        s = t * (u * (pi * ca))
        s -= gz * (pi * sa)
        np.sin(s, out=s)
        s *= 1 / (2 * np.pi * fw)
        s += 0.5
        return np.clip(s, 0, 1, out=s) * 0.6
    return None


def render_background(scene: Scene, size: int) -> np.ndarray:
    """The floor and backdrop, lit, without objects or shadows: (S, S, 3) float32."""
    return np.ascontiguousarray(background_planes(scene, size).transpose(1, 2, 0))


def shadow_blobs(scene: Scene) -> list[tuple[float, float, float, float, float]]:
    """Soft shadow ellipses (centre x, y, radii x, y in image widths; strength) cast on the floor:
    a contact shadow under each grounded object and one pushed away from the light."""
    cam, objects = scene.camera, scene.objects
    f = geo.focal(cam)
    az, el = math.radians(scene.light.azimuth), math.radians(max(scene.light.elevation, 15.0))
    push_x, push_z, tan_el = math.sin(az), math.cos(az), math.tan(el)
    # heights of the stacked objects, by support (a stack's shadow is as long as the stack is tall)
    stacked = [(o.support, geo.SHAPES[o.category].height * geo.scale_of(o)) for o in objects if o.support is not None]
    blobs = []
    for i, obj in enumerate(objects):
        if obj.support is not None:
            continue
        dims = geo.SHAPES[obj.category]
        s = geo.scale_of(obj)
        tall = dims.height * s + sum(h for j, h in stacked if j == i)
        reach = min(0.8 * tall / tan_el, 1.6 * s)
        sx, sy, zc = geo.project(cam, obj.x - push_x * reach, 0.0, obj.z + push_z * reach)
        # geo.view_elevation of a grounded object
        elevation = math.degrees(math.atan2(cam.height - 0.0, max(math.hypot(obj.x, obj.z), 1e-3)))
        sin_view = math.sin(math.radians(elevation))
        rx = (dims.radius * s + 0.25 * reach) * f / zc
        blobs.append((sx, sy, rx, rx * sin_view, 0.45))
        bx, by, bz = geo.project(cam, obj.x, 0.0, obj.z)
        r0 = dims.radius * s * f / bz * 0.8
        blobs.append((bx, by, r0, r0 * sin_view, 0.35))
    return blobs


def shade_maps(blob_lists: list[list[tuple]], size: int) -> list[np.ndarray | None]:
    """(S, S) floor multipliers, one per list of shadow blobs (None for an empty list).

    A blob is an axis-aligned Gaussian ellipse, so its falloff is an outer product of a
    column and a row profile. The blobs of all lists (a twin's two scenes share most) are
    evaluated once; above 128 px on a quarter-size grid (as before), then upsampled (shadows are blurry).
    """
    union = list(dict.fromkeys(b for blobs in blob_lists for b in blobs))
    if not union:
        return [None] * len(blob_lists)
    m = size if size <= 128 else size // 4
    table = np.array(union, np.float32)  # (n, 5): centre x, y, radius x, y, strength
    # both profiles of every blob in one go: (n, 2, m), along x then along y
    profiles = np.exp(-2.2 * ((_grid(m)[0] - table[:, 0:2, None]) / table[:, 2:4, None]) ** 2)
    ex = profiles[:, 0]
    ey = profiles[:, 1] * -table[:, 4:5]  # times -strength
    factors = ey[:, :, None] * ex[:, None, :]
    factors += 1
    index = {b: i for i, b in enumerate(union)}
    out: list[np.ndarray | None] = []
    for blobs in blob_lists:
        if not blobs:
            out.append(None)
            continue
        shade = _product([factors[index[b]] for b in blobs])
        if m != size:
            shade = np.asarray(Image.fromarray(shade).resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32)
        out.append(shade)
    return out


def _product(planes: list[np.ndarray]) -> np.ndarray:
    """A new array: the planes multiplied left to right (as np.multiply.reduce over them, without
    first copying them into one stack)."""
    if len(planes) == 1:
        return planes[0].copy()
    out = planes[0] * planes[1]
    for plane in planes[2:]:
        out *= plane
    return out


def shade_map(blobs: list[tuple], size: int) -> np.ndarray | None:
    return shade_maps([blobs], size)[0]


def floor_res(size: int) -> int:
    """The floor is smooth: above 128 px it is drawn at half resolution and upsampled."""
    return size if size <= 128 else (size + 1) // 2


def upsample(planes: np.ndarray, size: int) -> np.ndarray:
    """(3, s, s) planes -> (3, S, S), bilinear (Pillow, one float plane at a time)."""
    if planes.shape[1] == size:
        return planes
    return np.stack([np.asarray(Image.fromarray(p).resize((size, size), Image.Resampling.BILINEAR)) for p in planes])


def floor_planes(scene: Scene, size: int) -> np.ndarray:
    """Floor and backdrop at full size, (3, S, S): half resolution above 128 px, upsampled."""
    return upsample(background_planes(scene, floor_res(size)), size)


def floor_with_shadows(scene: Scene, size: int, blobs: list) -> np.ndarray:
    """Floor and backdrop with the given shadows, (3, S, S) at full size (as `render_twin` makes it)."""
    floor = floor_planes(scene, size)
    return floor * shade_map(blobs, size) if blobs else floor
