"""Prototype scene maker for the design experiments ONLY (the package's engine is eqvl.synth).

Flat 2D scenes drawn with numpy: shapes x colours on a grey canvas, captions for
relations / counts / attribute binding with exact hard negatives and hard positives,
and held-out twins (location / counting / attribute) and triplets. It exists to answer
"which data design makes ITC fail on space and counts but learn attributes?" before the
real engine lands; the answers go into the demo config as synth options.
"""
from __future__ import annotations

import numpy as np

SHAPES = ["square", "circle", "triangle", "diamond", "cross", "ring"]
COLOURS = {"red": (220, 30, 30), "green": (40, 180, 50), "blue": (30, 60, 230), "yellow": (245, 220, 30),
           "purple": (140, 45, 200), "cyan": (30, 200, 215), "orange": (255, 135, 15), "pink": (255, 115, 185)}
NUM = {1: "one", 2: "two", 3: "three", 4: "four"}


def _mask(shape: str, r: int) -> np.ndarray:
    y, x = np.mgrid[-r:r + 1, -r:r + 1]
    if shape == "square":
        m = (abs(x) <= r * 0.8) & (abs(y) <= r * 0.8)
    elif shape == "circle":
        m = x**2 + y**2 <= r * r
    elif shape == "triangle":
        m = (y >= -r * 0.8) & (y <= r * 0.8) & (abs(x) <= (y + r * 0.8) * 0.6)
    elif shape == "diamond":
        m = abs(x) + abs(y) <= r
    elif shape == "cross":
        m = ((abs(x) <= r * 0.3) | (abs(y) <= r * 0.3)) & (abs(x) <= r) & (abs(y) <= r)
    else:  # ring
        d = x**2 + y**2
        m = (d <= r * r) & (d >= (r * 0.5) ** 2)
    return m


def render(objs, size: int, rng=None) -> np.ndarray:
    img = np.full((size, size, 3), 128, np.uint8)
    r = max(3, size // 10)
    for shape, colour, cx, cy in objs:
        m = _mask(shape, r)
        x0, y0 = int(cx * (size - 2 * r - 2)) + 1, int(cy * (size - 2 * r - 2)) + 1
        reg = img[y0:y0 + 2 * r + 1, x0:x0 + 2 * r + 1]
        reg[m] = COLOURS[colour]
    return img


def _obj(rng, exclude=()):
    while True:
        o = (SHAPES[rng.integers(len(SHAPES))], list(COLOURS)[rng.integers(len(COLOURS))])
        if o not in exclude:
            return o


def _slots(rng, n):
    """n non-overlapping positions on a 4x4 grid with jitter, as (x, y) in [0, 1]."""
    cells = rng.permutation(16)[:n]
    return [((c % 4 + rng.uniform(0.1, 0.9)) / 4, (c // 4 + rng.uniform(0.1, 0.9)) / 4) for c in cells]


def a(o):
    return f"a {o[1]} {o[0]}"


def relation_scene(rng, n_distract):
    A = _obj(rng); B = _obj(rng, (A,))
    while True:
        pos = _slots(rng, 2 + n_distract)
        if abs(pos[0][0] - pos[1][0]) > 0.2:
            break
    if pos[0][0] > pos[1][0]:
        pos[0], pos[1] = pos[1], pos[0]
    ds = [_obj(rng, (A, B)) for _ in range(n_distract)]
    objs = [(*A, *pos[0]), (*B, *pos[1])] + [(*d, *p) for d, p in zip(ds, pos[2:])]
    cap = f"{a(A)} left of {a(B)}"
    return objs, cap, f"{a(B)} left of {a(A)}", f"{a(B)} right of {a(A)}", (A, B, ds, pos)


def count_scene(rng, n_distract, n=None):
    A = _obj(rng)
    n = n or int(rng.integers(1, 5))
    ds = [_obj(rng, (A,)) for _ in range(n_distract)]
    pos = _slots(rng, n + n_distract)
    objs = [(*A, *p) for p in pos[:n]] + [(*d, *p) for d, p in zip(ds, pos[n:])]
    word = lambda k: f"{NUM[k]} {A[1]} {A[0]}" + ("s" if k > 1 else "")
    other = n + 1 if n < 4 and (n == 1 or rng.random() < 0.5) else n - 1
    return objs, word(n), word(other), f"{n} {A[1]} {A[0]}" + ("s" if n > 1 else ""), (A, n, ds, pos)


def binding_scene(rng, n_distract):
    A = _obj(rng)
    B = _obj(rng, (A,))
    while B[0] == A[0] or B[1] == A[1]:
        B = _obj(rng, (A,))
    ds = [_obj(rng, (A, B)) for _ in range(n_distract)]
    pos = _slots(rng, 2 + n_distract)
    objs = [(*A, *pos[0]), (*B, *pos[1])] + [(*d, *p) for d, p in zip(ds, pos[2:])]
    cap = f"{a(A)} and {a(B)}"
    neg = f"a {A[1]} {B[0]} and a {B[1]} {A[0]}"
    pos_c = f"{a(B)} and {a(A)}"
    return objs, cap, neg, pos_c, (A, B, ds, pos)


MAKERS = {"relation": relation_scene, "count": count_scene, "binding": binding_scene}


def training_set(n, size, seed, mix=("relation", "count", "binding"), max_distract=2):
    rng = np.random.default_rng(seed)
    imgs = np.zeros((n, size, size, 3), np.uint8)
    caps, negs, poss = [], [], []
    for i in range(n):
        kind = mix[i % len(mix)]
        objs, c, ng, ps, _ = MAKERS[kind](rng, int(rng.integers(0, max_distract + 1)))
        imgs[i] = render(objs, size)
        caps.append(c); negs.append(ng); poss.append(ps)
    return imgs, caps, negs, poss


def twins(n, size, seed, max_distract=2):
    """Per subset n twins: returns dict subset -> (imgs [n,2,H,W,3], caps [n][2])."""
    rng = np.random.default_rng(seed)
    out = {}
    # location: same objects, A and B swap places
    I, C = [], []
    for _ in range(n):
        objs, cap, neg, _, (A, B, ds, pos) = relation_scene(rng, int(rng.integers(0, max_distract + 1)))
        objs2 = [(*B, *pos[0]), (*A, *pos[1])] + objs[2:]
        I.append([render(objs, size), render(objs2, size)]); C.append([cap, neg])
    out["location"] = (np.array(I), C)
    # counting: n vs n+1 of the same object, same distractors
    I, C = [], []
    for _ in range(n):
        k = int(rng.integers(1, 4))
        objs, cap, _, _, (A, _, ds, pos) = count_scene(rng, int(rng.integers(0, max_distract + 1)), n=k)
        extra = _slots(rng, 16)
        used = {(round(p[0], 3), round(p[1], 3)) for p in pos}
        # one more A in a free cell
        taken = {int(p[0] * 4) + 4 * int(p[1] * 4) for p in pos}
        free = [c for c in range(16) if c not in taken]
        c = free[rng.integers(len(free))]
        objs2 = objs + [(*A, (c % 4 + 0.5) / 4, (c // 4 + 0.5) / 4)]
        cap2 = f"{NUM[k + 1]} {A[1]} {A[0]}s"
        I.append([render(objs, size), render(objs2, size)]); C.append([cap, cap2])
    out["counting"] = (np.array(I), C)
    # attribute: one described object changes colour
    I, C = [], []
    for _ in range(n):
        objs, cap, _, _, (A, B, ds, pos) = binding_scene(rng, int(rng.integers(0, max_distract + 1)))
        newc = [c for c in COLOURS if c not in (A[1], B[1])][rng.integers(len(COLOURS) - 2)]
        A2 = (A[0], newc)
        objs2 = [(*A2, *pos[0])] + objs[1:]
        I.append([render(objs, size), render(objs2, size)]); C.append([cap, f"{a(A2)} and {a(B)}"])
    out["attribute"] = (np.array(I), C)
    return out


def triplets(n, size, seed, max_distract=2):
    rng = np.random.default_rng(seed)
    out = {}
    for kind in ("relation", "binding"):
        I, T = [], []
        for _ in range(n):
            objs, c, ng, ps, _ = MAKERS[kind](rng, int(rng.integers(0, max_distract + 1)))
            I.append(render(objs, size)); T.append([c, ps, ng])
        out[kind] = (np.array(I), T)
    return out
