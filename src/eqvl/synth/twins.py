"""Twin scenes: two scenes that differ in exactly one controlled factor, with captions.

location: two objects; the twin moves one of them so the relation changes.
counting: 1-5 instances of one object; the twin adds or removes instances.
attribute: two objects with size and colour; the twin swaps or changes attributes.
Both scenes share camera, light, background and every other object. A twin is only
accepted when each caption is true of its own scene and false of the other.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from eqvl.errors import EqvlError
from eqvl.synth import geometry as geo
from eqvl.synth import placement as pl
from eqvl.synth import vocab
from eqvl.synth.captions import Style, hard_negatives, hard_positives, realize, sample_style
from eqvl.synth.config import SynthConfig
from eqvl.synth.logic import Count, Desc, Rel, Statement, evaluate
from eqvl.synth.scene import Obj, Scene

MAX_ATTEMPTS = 400
FLAT_TOPS = tuple(c for c, d in geo.SHAPES.items() if d.flat_top)
ATTRIBUTE_CHANGES = ("swap_size", "swap_colour", "change_colour", "change_size")


@dataclass
class Twin:
    """Two scenes, their statements and one shared wording."""

    subset: str
    scenes: tuple[Scene, Scene]
    statements: tuple[Statement, Statement]
    style: Style
    change: dict[str, Any] = field(default_factory=dict)

    @functools.cached_property
    def captions(self) -> tuple[str, str]:
        return realize(self.statements[0], self.style), realize(self.statements[1], self.style)

    def rewrites(self, k: int, rng: np.random.Generator, cfg: SynthConfig) -> tuple[list[tuple[str, str]], list[tuple[str, str]]]:
        """(hard negatives, hard positives) of caption k as (text, type); the twin's caption first."""
        own, other = self.captions[k], self.captions[1 - k]
        negs = [(other, "twin")] + hard_negatives(self.statements[k], self.style, rng, cfg.counts, cfg.colours, own)
        seen, unique = set(), []
        for text, kind in negs:
            if text not in seen and text != own:
                seen.add(text)
                unique.append((text, kind))
        return unique, hard_positives(self.statements[k], self.style, own)


def _pick(rng: np.random.Generator, options, exclude=()) -> str:
    pool = [o for o in options if o not in exclude] if exclude else options
    return str(pool[int(rng.integers(len(pool)))])


def _new_obj(rng: np.random.Generator, cfg: SynthConfig, category: str, colour: str | None = None, size: str | None = None) -> Obj:
    return Obj(
        category=category,
        colour=colour or _pick(rng, cfg.colours),
        size=size or _pick(rng, vocab.SIZES),
        material=_pick(rng, cfg.materials),
        x=0.0,
        z=0.0,
        yaw=int(rng.integers(2)),
    )


def _add_distractors(rng: np.random.Generator, cfg: SynthConfig, scenes: list[Scene], taken: set[str]) -> None:
    """Other objects, identical in both scenes, of categories the captions never name."""
    n = int(rng.integers(cfg.distractors[0], cfg.distractors[1] + 1))
    free = [c for c in cfg.categories if c not in taken]
    for _ in range(n if free else 0):
        pl.place_everywhere(rng, scenes, _new_obj(rng, cfg, _pick(rng, free)))


def _location(rng: np.random.Generator, cfg: SynthConfig, base: Scene) -> Twin | None:
    r0 = _pick(rng, cfg.relations)
    r1 = _pick(rng, cfg.relations, exclude=(r0,))
    stacking = "on" in (r0, r1)
    cat_b = _pick(rng, [c for c in cfg.categories if c in FLAT_TOPS] if stacking else cfg.categories)
    cat_a = _pick(rng, cfg.categories, exclude=(cat_b,))
    col_b = _pick(rng, cfg.colours)
    col_a = _pick(rng, cfg.colours, exclude=(col_b,))
    a = _new_obj(rng, cfg, cat_a, col_a, "small" if stacking else None)
    b = _new_obj(rng, cfg, cat_b, col_b, "large" if stacking else None)
    mover = "a" if stacking or rng.random() < 0.5 else "b"
    s0 = base.copy()
    s0.objects = [a, b]
    b.x, b.z = pl.random_spot(rng, s0.camera, pl.room_for(r0, r1) if mover == "a" else pl.room_for(r0))
    if not pl.place_relative(rng, s0, 0, 1, r0) or not pl.clean(s0, 0, 1, r0):
        return None
    s1 = s0.copy()
    if mover == "a":
        ok = pl.place_relative(rng, s1, 0, 1, r1)
    else:
        ok = pl.place_relative(rng, s1, 1, 0, vocab.INVERSE[r1])
    if not ok or not pl.clean(s1, 0, 1, r1):
        return None
    _add_distractors(rng, cfg, [s0, s1], {cat_a, cat_b})
    da, db = Desc(cat_a, col_a), Desc(cat_b, col_b)
    stmts = (Rel(da, r0, db), Rel(da, r1, db))
    return Twin("location", (s0, s1), stmts, sample_style(rng, stmts[0]), {"from": r0, "to": r1, "moved": mover})


def _counting(rng: np.random.Generator, cfg: SynthConfig, base: Scene) -> Twin | None:
    lo, hi = cfg.counts
    n0 = int(rng.integers(lo, hi + 1))
    n1 = int(_pick(rng, [str(n) for n in range(lo, hi + 1)], exclude=(str(n0),)))
    proto = _new_obj(rng, cfg, _pick(rng, cfg.categories))
    big = base.copy()
    for _ in range(max(n0, n1)):
        inst = proto.clone()
        inst.yaw = int(rng.integers(2))
        if not pl.place_everywhere(rng, [big], inst):
            return None
    keep = sorted(rng.permutation(len(big.objects))[: min(n0, n1)].tolist())
    small = big.copy()
    small.objects = [small.objects[i] for i in keep]
    s0, s1 = (big, small) if n0 > n1 else (small, big)
    _add_distractors(rng, cfg, [s0, s1], {proto.category})
    desc = Desc(proto.category, proto.colour)
    stmts = (Count(desc, n0), Count(desc, n1))
    return Twin("counting", (s0, s1), stmts, sample_style(rng, stmts[0]), {"from": n0, "to": n1})


def _attribute(rng: np.random.Generator, cfg: SynthConfig, base: Scene) -> Twin | None:
    rel = _pick(rng, [r for r in cfg.relations if r != "on"])
    change = _pick(rng, ATTRIBUTE_CHANGES)
    cat_a = _pick(rng, cfg.categories)
    cat_b = _pick(rng, cfg.categories, exclude=(cat_a,))
    col_a = _pick(rng, cfg.colours)
    col_b = _pick(rng, cfg.colours, exclude=(col_a,))
    size_a = _pick(rng, vocab.SIZES)
    size_b = _pick(rng, vocab.SIZES, exclude=(size_a,)) if change == "swap_size" else _pick(rng, vocab.SIZES)
    s0 = base.copy()
    s0.objects = [_new_obj(rng, cfg, cat_a, col_a, size_a), _new_obj(rng, cfg, cat_b, col_b, size_b)]
    s0.objects[1].x, s0.objects[1].z = pl.random_spot(rng, s0.camera, pl.room_for(rel))
    if not pl.place_relative(rng, s0, 0, 1, rel):
        return None
    s1 = s0.copy()
    a1, b1 = s1.objects
    target = "both"
    if change == "swap_size":
        a1.size, b1.size = b1.size, a1.size
    elif change == "swap_colour":
        a1.colour, b1.colour = b1.colour, a1.colour
    else:
        target = "a" if rng.random() < 0.5 else "b"
        obj = a1 if target == "a" else b1
        if change == "change_colour":
            obj.colour = _pick(rng, cfg.colours, exclude=(col_a, col_b))
        else:
            obj.size = "large" if obj.size == "small" else "small"
    for scene in (s0, s1):
        if not pl.all_fit(scene) or not pl.clean(scene, 0, 1, rel) or not _sizes_read_right(scene):
            return None
    _add_distractors(rng, cfg, [s0, s1], {cat_a, cat_b})
    s0_rel, s1_rel = (
        Rel(Desc(s.objects[0].category, s.objects[0].colour, s.objects[0].size), rel,
            Desc(s.objects[1].category, s.objects[1].colour, s.objects[1].size))
        for s in (s0, s1)
    )
    stmts: tuple[Statement, Statement] = (s0_rel, s1_rel)
    return Twin("attribute", (s0, s1), stmts, sample_style(rng, stmts[0]), {"change": change, "target": target, "relation": rel})


def _sizes_read_right(scene: Scene, ratio: float = 1.2) -> bool:
    """Perspective must not invert size words: the large object looks clearly larger on screen."""
    a, b = scene.objects[0], scene.objects[1]
    if a.size == b.size:
        return True
    ka, kb = geo.view_of(scene, 0)[3] * geo.scale_of(a), geo.view_of(scene, 1)[3] * geo.scale_of(b)
    return ka >= ratio * kb if a.size == "large" else kb >= ratio * ka


_SUBSETS = {"location": _location, "counting": _counting, "attribute": _attribute}


def _valid(twin: Twin) -> bool:
    (s0, s1), (t0, t1) = twin.scenes, twin.statements
    return evaluate(t0, s0) is True and evaluate(t1, s1) is True and evaluate(t0, s1) is False and evaluate(t1, s0) is False


def make_twin(rng: np.random.Generator, subset: str, cfg: SynthConfig | None = None) -> Twin:
    """Sample a twin of `subset` (reject-sampling until it is clean)."""
    cfg = cfg or SynthConfig()
    build = _SUBSETS[subset]
    for _ in range(MAX_ATTEMPTS):
        base = pl.sample_setting(rng)
        twin = build(rng, cfg, base)
        if twin is not None and _valid(twin):
            return twin
    raise EqvlError(
        f"could not sample a clean {subset} twin in {MAX_ATTEMPTS} attempts; "
        "allow more `categories`, `colours` or `relations`, or fewer `distractors`"
    , params=("categories", "colours", "relations", "distractors"))


def sample_scene(rng: np.random.Generator, subset: str, cfg: SynthConfig | None = None) -> tuple[Scene, Statement]:
    """One scene with the statement that is true of it (the first half of a twin)."""
    twin = make_twin(rng, subset, cfg)
    return twin.scenes[0], twin.statements[0]
