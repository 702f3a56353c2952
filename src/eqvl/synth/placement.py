"""Random settings (camera, light, background) and reject-sampled object placement.

Placements are sampled in screen space (so objects land where the camera sees them)
and rejected when objects collide on the ground, leave the frame or hide each other
so much that a caption about them could become false.
"""

from __future__ import annotations

import colorsys
import math
from typing import Iterable

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


def sample_setting(rng: np.random.Generator) -> Scene:
    """An empty scene: jittered camera and light, a muted floor and backdrop."""
    cam = Camera(height=float(rng.uniform(6.0, 7.0)), pitch=float(rng.uniform(36, 44)), fov=float(rng.uniform(30, 36)))
    light = Light(
        azimuth=float(rng.uniform(-120, 120)),
        elevation=float(rng.uniform(35, 65)),
        intensity=float(rng.uniform(0.6, 0.8)),
        ambient=float(rng.uniform(0.3, 0.42)),
    )
    h, s, v = rng.uniform(0, 1), rng.uniform(0.03, 0.18), rng.uniform(0.5, 0.82)
    bg = Background(
        style=str(rng.choice(STYLES)),
        floor=_hsv(h, s, v),
        floor2=_hsv(h + rng.uniform(-0.05, 0.05), s, v * rng.uniform(0.75, 0.9)),
        backdrop=_hsv(rng.uniform(0, 1), rng.uniform(0.05, 0.25), rng.uniform(0.15, 0.45)),
        scale=float(rng.uniform(0.8, 1.6)),
        angle=float(rng.uniform(-35, 35)),
        depth=float(rng.uniform(13.0, 19.0)),
    )
    return Scene(objects=[], camera=cam, light=light, background=bg)


def ground_at(cam: Camera, sx: float, zc: float) -> tuple[float, float]:
    """Ground point (x, z) with screen x `sx` at camera depth `zc`."""
    p = math.radians(cam.pitch)
    z = (zc - cam.height * math.sin(p)) / math.cos(p)
    x = (sx - 0.5) * zc / geo.focal(cam)
    return x, z


def _stacked(scene: Scene, i: int, j: int) -> bool:
    a, b = scene.objects[i], scene.objects[j]
    return a.support == j or b.support == i


def fits(scene: Scene, i: int, others: Iterable[int] | None = None) -> bool:
    """Is object i in frame, on the platform, clear of the others and not hiding/hidden too much?"""
    obj = scene.objects[i]
    box = geo.screen_box(scene, i)
    m = FRAME_MARGIN
    if box[0] < m or box[1] < m or box[2] > 1 - m or box[3] > 1 - m:
        return False
    dims = geo.SHAPES[obj.category]
    s = geo.scale_of(obj)
    if obj.z + dims.radius * s > scene.background.depth - 0.3 or obj.z < 0.5:
        return False
    others = range(len(scene.objects)) if others is None else others
    for j in others:
        if j == i or _stacked(scene, i, j):
            continue
        other = scene.objects[j]
        if obj.support is None and other.support is None:
            need = (dims.radius * s + geo.SHAPES[other.category].radius * geo.scale_of(other)) * 1.08
            if math.hypot(obj.x - other.x, obj.z - other.z) < need:
                return False
        if geo.box_overlap(box, geo.screen_box(scene, j)) > MAX_OVERLAP:
            return False
    return True


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
    wx, wy = window or (SCREEN_X, SCREEN_Y)
    while True:
        spot = geo.ground_from_screen(cam, float(rng.uniform(*wx)), float(rng.uniform(*wy)))
        if spot is not None:
            return spot


def place_everywhere(rng: np.random.Generator, scenes: list[Scene], obj: Obj, tries: int = 30) -> bool:
    """Put a copy of `obj` at one random spot that fits in every scene (shared objects of a twin)."""
    cam = scenes[0].camera
    for _ in range(tries):
        obj.x, obj.z = random_spot(rng, cam)
        for scene in scenes:
            scene.objects.append(Obj(**vars(obj)))
        if all(fits(scene, len(scene.objects) - 1) for scene in scenes):
            return True
        for scene in scenes:
            scene.objects.pop()
    return False


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
    if geo.relation(scene, j, i, "on"):
        return False
    return all(geo.relation(scene, i, j, r) is (r == rel) for r in RELATIONS)
