"""Random settings (camera, light, background) and reject-sampled object placement.

Placements are sampled in screen space (so objects land where the camera sees them)
and rejected when objects collide on the ground, leave the frame or hide each other
so much that a caption about them could become false.
"""

from __future__ import annotations

import colorsys
import math
from typing import Iterable, Iterator

import numpy as np

from eqvl.synth import geometry as geo
from eqvl.synth.scene import Background, Camera, Light, Obj, Scene
from eqvl.synth.vocab import RELATIONS

SCREEN_X = (0.14, 0.86)
SCREEN_Y = (0.47, 0.92)
#: largest allowed screen-box overlap (intersection / smaller box) between two objects
MAX_OVERLAP = 0.22
FRAME_MARGIN = 0.015
STYLES = ("plain", "checker", "tiles", "stripes")


def _hsv(h: float, s: float, v: float) -> tuple[float, float, float]:
    r, g, b = colorsys.hsv_to_rgb(h % 1.0, s, v)
    return (round(r, 4), round(g, 4), round(b, 4))


#: (low, high) of every jittered setting parameter, drawn in one call
_SETTING = {
    "height": (6.0, 7.0), "pitch": (36.0, 44.0), "fov": (30.0, 36.0),
    "azimuth": (-120.0, 120.0), "elevation": (35.0, 65.0), "intensity": (0.6, 0.8), "ambient": (0.3, 0.42),
    "hue": (0.0, 1.0), "sat": (0.03, 0.18), "val": (0.5, 0.82), "hue2": (-0.05, 0.05), "dark2": (0.75, 0.9),
    "back_hue": (0.0, 1.0), "back_sat": (0.05, 0.25), "back_val": (0.15, 0.45),
    "scale": (0.8, 1.6), "angle": (-35.0, 35.0), "depth": (13.0, 19.0), "style": (0.0, len(STYLES)),
}
_LOW = np.array([lo for lo, _ in _SETTING.values()])
_SPAN = np.array([hi - lo for lo, hi in _SETTING.values()])


def sample_setting(rng: np.random.Generator) -> Scene:
    """An empty scene: jittered camera and light, a muted floor and backdrop."""
    p = dict(zip(_SETTING, (_LOW + _SPAN * rng.random(len(_SETTING))).tolist()))
    cam = Camera(height=p["height"], pitch=p["pitch"], fov=p["fov"])
    light = Light(azimuth=p["azimuth"], elevation=p["elevation"], intensity=p["intensity"], ambient=p["ambient"])
    bg = Background(
        style=STYLES[min(int(p["style"]), len(STYLES) - 1)],
        floor=_hsv(p["hue"], p["sat"], p["val"]),
        floor2=_hsv(p["hue"] + p["hue2"], p["sat"], p["val"] * p["dark2"]),
        backdrop=_hsv(p["back_hue"], p["back_sat"], p["back_val"]),
        scale=p["scale"],
        angle=p["angle"],
        depth=p["depth"],
    )
    return Scene(objects=[], camera=cam, light=light, background=bg)


def ground_at(cam: Camera, sx: float, zc: float) -> tuple[float, float]:
    """Ground point (x, z) with screen x `sx` at camera depth `zc`."""
    p = math.radians(cam.pitch)
    z = (zc - cam.height * math.sin(p)) / math.cos(p)
    x = (sx - 0.5) * zc / geo.focal(cam)
    return x, z


def fits(scene: Scene, i: int, others: Iterable[int] | None = None) -> bool:
    """Is object i in frame, on the platform, clear of the others and not hiding/hidden too much?

    The cheap ground tests come first, so most rejected spots never need a screen box.
    """
    objects = scene.objects
    obj = objects[i]
    shapes, scale = geo.SHAPES, geo.SIZE_SCALE
    r_i = shapes[obj.category].radius * scale[obj.size]
    if obj.z + r_i > scene.background.depth - 0.3 or obj.z < 0.5:
        return False
    # stacked pairs (one stands on the other) neither collide nor count as hiding each other
    near = [
        j for j in (range(len(objects)) if others is None else others)
        if j != i and obj.support != j and objects[j].support != i
    ]
    if obj.support is None:
        ox, oz = obj.x, obj.z
        for j in near:
            other = objects[j]
            if other.support is None:
                need = (r_i + shapes[other.category].radius * scale[other.size]) * 1.08
                if math.hypot(ox - other.x, oz - other.z) < need:
                    return False
    box = geo.screen_box(scene, i)
    m = FRAME_MARGIN
    if box[0] < m or box[1] < m or box[2] > 1 - m or box[3] > 1 - m:
        return False
    return not any(_hides(box, geo.screen_box(scene, j)) for j in near)


def _hides(b: tuple[float, float, float, float], a: tuple[float, float, float, float], area_a: float | None = None) -> bool:
    """Do two screen boxes overlap by more than MAX_OVERLAP of the smaller one (geo.box_overlap, inlined)?"""
    bx0, by0, bx1, by1 = b
    ax0, ay0, ax1, ay1 = a
    w = (bx1 if bx1 < ax1 else ax1) - (bx0 if bx0 > ax0 else ax0)
    if w <= 0:
        return False
    h = (by1 if by1 < ay1 else ay1) - (by0 if by0 > ay0 else ay0)
    if h <= 0:
        return False
    if area_a is None:
        area_a = (ax1 - ax0) * (ay1 - ay0)
    return w * h / max(min((bx1 - bx0) * (by1 - by0), area_a), 1e-9) > MAX_OVERLAP


def all_fit(scene: Scene) -> bool:
    return all(fits(scene, i) for i in range(len(scene.objects)))


#: where the reference object B may stand so that A fits on the side a relation needs
#: ("A left of B" needs room left of B, so B stands right of centre; and so on)
_ROOM = {
    "left": ((0.40, 0.86), SCREEN_Y),
    "right": ((0.14, 0.60), SCREEN_Y),
    "front": (SCREEN_X, (0.47, 0.70)),
    "behind": (SCREEN_X, (0.62, 0.92)),
    "on": (SCREEN_X, SCREEN_Y),
}


def room_for(*relations: str) -> tuple[tuple[float, float], tuple[float, float]]:
    """Screen window for B leaving room for A in every given relation (windows intersect)."""
    (x0, x1), (y0, y1) = SCREEN_X, SCREEN_Y
    for rel in relations:
        (a, b), (c, d) = _ROOM[rel]
        x0, x1, y0, y1 = max(x0, a), min(x1, b), max(y0, c), min(y1, d)
    return (x0, max(x0, x1)), (y0, max(y0, y1))


def random_spot(rng: np.random.Generator, cam: Camera, window=None) -> tuple[float, float]:
    """A ground point under a random screen position in the placement window."""
    while True:
        for spot in random_spots(rng, cam, 1, window):
            return spot


def random_spots(rng: np.random.Generator, cam: Camera, n: int, window=None) -> Iterator[tuple[float, float]]:
    """Up to `n` ground points under random screen positions in the window (one draw for all,
    converted lazily)."""
    (x0, x1), (y0, y1) = window or (SCREEN_X, SCREEN_Y)
    u = rng.random((n, 2)).tolist()
    for a, b in u:
        spot = geo.ground_from_screen(cam, x0 + (x1 - x0) * a, y0 + (y1 - y0) * b)
        if spot is not None:
            yield spot


def place_everywhere(rng: np.random.Generator, scenes: list[Scene], obj: Obj, tries: int = 30) -> bool:
    """Put a copy of `obj` at one random spot that fits in every scene (shared objects of a twin).

    Same answer as appending it and asking `fits`, but the other objects' footprints and
    boxes are gathered once per call instead of once per try (the sampler's hottest loop).
    """
    if obj.support is not None:
        return _place_everywhere_generic(rng, scenes, obj, tries)
    neighbours = [_neighbours(scene) for scene in scenes]
    for obj.x, obj.z in random_spots(rng, scenes[0].camera, tries):
        if all(_fits_grounded(scene, obj, near) for scene, near in zip(scenes, neighbours)):
            for scene in scenes:
                scene.objects.append(obj.clone())
            return True
    return False


def _place_everywhere_generic(rng: np.random.Generator, scenes: list[Scene], obj: Obj, tries: int) -> bool:
    for obj.x, obj.z in random_spots(rng, scenes[0].camera, tries):
        for scene in scenes:
            scene.objects.append(obj.clone())
        if all(fits(scene, len(scene.objects) - 1) for scene in scenes):
            return True
        for scene in scenes:
            scene.objects.pop()
    return False


def _neighbours(scene: Scene) -> list[tuple[bool, float, float, float, tuple, float]]:
    """Per object: (grounded, x, z, footprint radius, screen box, box area), as `fits` uses them."""
    shapes, scale = geo.SHAPES, geo.SIZE_SCALE
    out = []
    for j, other in enumerate(scene.objects):
        box = geo.screen_box(scene, j)
        area = (box[2] - box[0]) * (box[3] - box[1])
        out.append((other.support is None, other.x, other.z, shapes[other.category].radius * scale[other.size], box, area))
    return out


def _fits_grounded(scene: Scene, obj: Obj, neighbours: list[tuple]) -> bool:
    """`fits` for a grounded object about to be appended to `scene` (nothing stands on it yet)."""
    ox, oz = obj.x, obj.z
    r_i = geo.SHAPES[obj.category].radius * geo.SIZE_SCALE[obj.size]
    if oz + r_i > scene.background.depth - 0.3 or oz < 0.5:
        return False
    for grounded, x, z, r_j, _, _ in neighbours:
        if grounded and math.hypot(ox - x, oz - z) < (r_i + r_j) * 1.08:
            return False
    box = geo.grounded_box(obj, scene.camera)
    m = FRAME_MARGIN
    if box[0] < m or box[1] < m or box[2] > 1 - m or box[3] > 1 - m:
        return False
    return not any(_hides(box, other_box, area) for _, _, _, _, other_box, area in neighbours)


def place_relative(rng: np.random.Generator, scene: Scene, i: int, j: int, rel: str, tries: int = 4) -> bool:
    """Move object i so that `rel`(i, j) holds cleanly (the other relations clearly false).

    Gaps start from the relation's threshold and the two objects' sizes, so that they
    neither collide nor hide each other; a few random gaps are tried before giving up.
    """
    obj, ref = scene.objects[i], scene.objects[j]
    cam = scene.camera
    if rel == "on":
        obj.support, obj.x, obj.z = j, ref.x, ref.z
        return fits(scene, i)
    obj.support = None
    sx_ref, zc_ref = geo.ground_anchor(scene, j)
    for _ in range(tries):
        sx, zc = sx_ref, zc_ref
        if rel in ("left", "right"):
            zc = zc_ref + float(rng.uniform(-0.6, 0.6)) * geo.D_FALSE
            k = geo.focal(cam) / zc
            widths = geo.SHAPES[obj.category].radius * geo.scale_of(obj) + geo.SHAPES[ref.category].radius * geo.scale_of(ref)
            gap = max(geo.H_TRUE + 0.02, widths * k * 1.15) + float(rng.uniform(0.0, 0.12))
            sx = sx_ref - gap if rel == "left" else sx_ref + gap
        else:
            gap = float(rng.uniform(geo.D_TRUE + 0.2, geo.D_TRUE + 1.6))
            zc = zc_ref - gap if rel == "front" else zc_ref + gap
            sx = sx_ref + float(rng.uniform(-0.5, 0.5)) * geo.H_FALSE
        obj.x, obj.z = ground_at(cam, sx, zc)
        if fits(scene, i) and fits(scene, j):
            return True
    return False


def clean(scene: Scene, i: int, j: int, rel: str) -> bool:
    """rel(i, j) is true and every other relation between i and j is clearly false."""
    if i == j:
        return all(r != rel for r in RELATIONS)  # geo.relation of an object with itself is False
    objects = scene.objects
    if objects[j].support == i or (objects[i].support == j) is not (rel == "on"):
        return False
    # the ground anchors once, not once per relation
    anchor_i, anchor_j = geo.ground_anchor(scene, i), geo.ground_anchor(scene, j)
    return all(geo.ground_relation(r, anchor_i, anchor_j) is (r == rel) for r in RELATIONS if r != "on")
