"""The floor: perspective ground plane, backdrop, lighting falloff and soft shadows.

A pixel's floor depth depends only on its row, so most terms are (S, 1) columns; shadows
are blurry, so they are evaluated on a coarse grid and upsampled. Shared by both images
of a twin (only the shadows of moved objects differ).
"""

from __future__ import annotations

import math

import numpy as np
from PIL import Image

from eqvl.synth import geometry as geo
from eqvl.synth.scene import Scene


def render_background(scene: Scene, size: int) -> np.ndarray:
    """The floor and backdrop, lit, without objects or shadows: (S, S, 3) float32.

    The floor depth of a pixel depends only on its row, so most terms are (S, 1) columns.
    """
    cam, bg, light = scene.camera, scene.background, scene.light
    f = geo.focal(cam)
    c = (np.arange(size, dtype=np.float32) + 0.5) / size
    u = ((c - 0.5) / f)[None, :]
    v = ((0.5 - c) / f)[:, None]
    p = math.radians(cam.pitch)
    sp, cp = math.sin(p), math.cos(p)
    dy = -sp + v * cp
    hit = dy < -1e-4
    t = np.where(hit, cam.height / np.where(hit, -dy, 1), 1e4).astype(np.float32)  # (S, 1)
    gz = np.where(hit, t * (cp + v * sp), 1e4).astype(np.float32)  # (S, 1)
    a = math.radians(bg.angle)
    ca, sa = math.cos(a) / bg.scale, math.sin(a) / bg.scale
    # width of one pixel on the floor, in texture periods (for anti-aliased edges)
    fw = np.clip(t / (f * size * bg.scale) * 1.5, 1e-3, 1.0)
    # texture coordinates (gx * ca - gz * sa, gx * sa + gz * ca) with gx = t * u: an outer
    # product minus a column each, so few (S, S) temporaries (this runs once per twin)
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
        mix = np.clip(s, 0, 1, out=s)
    elif bg.style == "tiles":
        ru = t * (u * ca)
        ru -= gz * sa
        rv = t * (u * sa)
        rv += gz * ca
        ru -= np.round(ru)
        rv -= np.round(rv)
        line = np.minimum(np.abs(ru, out=ru), np.abs(rv, out=rv), out=ru)
        mix = np.clip((0.04 + fw / 2 - line) / fw, 0, 1)
    elif bg.style == "stripes":
        pi = np.float32(np.pi)
        s = t * (u * (pi * ca))
        s -= gz * (pi * sa)
        np.sin(s, out=s)
        s *= 1 / (2 * np.pi * fw)
        s += 0.5
        mix = np.clip(s, 0, 1, out=s) * 0.6
    else:
        mix = None
    floor = np.asarray(bg.floor, np.float32)
    # light: an overall level from the light's elevation, times a soft vignette (separable,
    # so one outer product)
    level = light.ambient + light.intensity * math.sin(math.radians(light.elevation))
    centred = (c - 0.5) * 2
    fall = 1.0 - 0.16 * centred * centred
    lit = (fall[:, None] * (1.05 * level)) * fall[None, :]  # (S, S)
    if mix is None:
        ground = lit[..., None] * floor
    else:
        ground = floor + mix[..., None] * (np.asarray(bg.floor2, np.float32) - floor)
        ground *= lit[..., None]
    # the platform ends at bg.depth; beyond it (and above the horizon) the backdrop. Only
    # the top rows can be past the edge (depth grows upwards), so blend just those.
    edge = np.clip((bg.depth - gz) / np.maximum(fw * bg.scale * 2, 1e-3), 0, 1)  # (S, 1)
    rows = int(np.count_nonzero(edge[:, 0] < 1))
    if rows:
        wall = np.asarray(bg.backdrop, np.float32) * (0.8 + 0.4 * np.clip(v[:rows] + 0.5, 0, 1))[..., None]
        top = ground[:rows]
        top -= wall
        top *= edge[:rows, :, None]
        top += wall
    return ground.astype(np.float32, copy=False)


def shadow_blobs(scene: Scene) -> list[tuple[float, float, float, float, float]]:
    """Soft shadow ellipses (centre x, y, radii x, y in image widths; strength) cast on the floor:
    a contact shadow under each grounded object and one pushed away from the light."""
    cam = scene.camera
    f = geo.focal(cam)
    az, el = math.radians(scene.light.azimuth), math.radians(max(scene.light.elevation, 15.0))
    blobs = []
    for i, obj in enumerate(scene.objects):
        if obj.support is not None:
            continue
        dims = geo.SHAPES[obj.category]
        s = geo.scale_of(obj)
        tall = dims.height * s + sum(
            geo.SHAPES[o.category].height * geo.scale_of(o) for o in scene.objects if o.support == i
        )
        reach = min(0.8 * tall / math.tan(el), 1.6 * s)
        sx, sy, zc = geo.project(cam, obj.x - math.sin(az) * reach, 0.0, obj.z + math.cos(az) * reach)
        sin_view = math.sin(math.radians(geo.view_elevation(scene, i)))
        rx = (dims.radius * s + 0.25 * reach) * f / zc
        blobs.append((sx, sy, rx, rx * sin_view, 0.45))
        bx, by, bz = geo.project(cam, obj.x, 0.0, obj.z)
        r0 = dims.radius * s * f / bz * 0.8
        blobs.append((bx, by, r0, r0 * sin_view, 0.35))
    return blobs


def shade_maps(blob_lists: list[list[tuple]], size: int) -> list[np.ndarray | None]:
    """(S, S, 1) floor multipliers, one per list of shadow blobs (None for an empty list).

    A blob is an axis-aligned Gaussian ellipse, so its falloff is an outer product of a
    column and a row profile. The blobs of all lists (a twin's two scenes share most) are
    evaluated once; above 128 px on a quarter-size grid (as before), then upsampled (shadows are blurry).
    """
    union = list(dict.fromkeys(b for blobs in blob_lists for b in blobs))
    if not union:
        return [None] * len(blob_lists)
    m = size if size <= 128 else size // 4
    cx, cy, rx, ry, st = (np.asarray(col, np.float32)[:, None] for col in zip(*union))
    grid = (np.arange(m, dtype=np.float32) + 0.5) / m
    ex = np.exp(-2.2 * ((grid - cx) / rx) ** 2)  # (n, m) along x
    ey = np.exp(-2.2 * ((grid - cy) / ry) ** 2) * -st  # (n, m) along y, times -strength
    factors = ey[:, :, None] * ex[:, None, :]
    factors += 1
    index = {b: i for i, b in enumerate(union)}
    out: list[np.ndarray | None] = []
    for blobs in blob_lists:
        if not blobs:
            out.append(None)
            continue
        shade = np.multiply.reduce(factors[[index[b] for b in blobs]], axis=0)
        if m != size:
            shade = np.asarray(Image.fromarray(shade).resize((size, size), Image.Resampling.BILINEAR), dtype=np.float32)
        out.append(shade[..., None])
    return out


def shade_map(blobs: list[tuple], size: int) -> np.ndarray:
    return shade_maps([blobs], size)[0]


def floor_res(size: int) -> int:
    """The floor is smooth: above 128 px it is drawn at half resolution and upsampled."""
    return size if size <= 128 else (size + 1) // 2


def upsample(img: np.ndarray, size: int) -> np.ndarray:
    if img.shape[0] == size:
        return img
    channels = [
        np.asarray(Image.fromarray(np.ascontiguousarray(img[..., c])).resize((size, size), Image.Resampling.BILINEAR))
        for c in range(3)
    ]
    return np.stack(channels, axis=-1).astype(np.float32, copy=False)


def floor_with_shadows(scene: Scene, size: int, blobs: list) -> np.ndarray:
    """Floor and backdrop with the given shadows, at full size (as `render_twin` makes it)."""
    floor = upsample(render_background(scene, floor_res(size)), size)
    return floor * shade_map(blobs, size) if blobs else floor.copy()
