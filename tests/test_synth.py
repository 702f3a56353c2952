"""The synth engine: twins change one factor, images agree with captions, rewrites are exact."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from eqvl.errors import EqvlError
from eqvl.synth import geometry as geo
from eqvl.synth.captions import Style, realize
from eqvl.synth.checker import CaptionParseError, check, parse
from eqvl.synth.config import SynthConfig
from eqvl.synth.logic import Count, Desc, Rel, resolve
from eqvl.synth.render import render_scene, render_twin
from eqvl.synth.scene import Scene
from eqvl.synth.twins import make_twin
from eqvl.synth.writer import item_rng

CFG = SynthConfig()
N = 24


def twins(subset: str, n: int = N, cfg: SynthConfig = CFG):
    return [make_twin(item_rng(7, "twins", subset, i), subset, cfg) for i in range(n)]


def _key(obj) -> tuple:
    return (obj.category, obj.colour, obj.size, obj.material, obj.x, obj.z, obj.yaw, obj.support)


@pytest.mark.parametrize("subset", ["location", "counting", "attribute"])
def test_twins_share_setting(subset):
    for twin in twins(subset):
        s0, s1 = twin.scenes
        assert s0.camera == s1.camera and s0.light == s1.light and s0.background == s1.background


def test_location_twin_moves_exactly_one_named_object():
    for twin in twins("location"):
        s0, s1 = twin.scenes
        assert len(s0.objects) == len(s1.objects)
        moved = [i for i, (a, b) in enumerate(zip(s0.objects, s1.objects)) if _key(a) != _key(b)]
        assert len(moved) == 1 and moved[0] in (0, 1)
        a, b = s0.objects[moved[0]], s1.objects[moved[0]]
        # only the position (or the support it stands on) changed, never what the object is
        assert (a.category, a.colour, a.size, a.material) == (b.category, b.colour, b.size, b.material)
        r0, r1 = twin.statements[0].rel, twin.statements[1].rel
        assert r0 != r1 and (r0, r1) == (twin.change["from"], twin.change["to"])


def test_counting_twin_changes_only_the_count():
    for twin in twins("counting"):
        (s0, s1), (c0, c1) = twin.scenes, twin.statements
        assert isinstance(c0, Count) and c0.desc == c1.desc and c0.n != c1.n
        inst = [[_key(o) for o in s.objects if c0.desc.matches(o)] for s in (s0, s1)]
        rest = [[_key(o) for o in s.objects if not c0.desc.matches(o)] for s in (s0, s1)]
        assert rest[0] == rest[1]
        assert [len(i) for i in inst] == [c0.n, c1.n]
        small, big = sorted(inst, key=len)
        assert set(small) <= set(big)  # instances are added or removed, the others stay put


def test_attribute_twin_changes_only_attributes():
    for twin in twins("attribute"):
        s0, s1 = twin.scenes
        assert [(o.category, o.x, o.z, o.material) for o in s0.objects] == [(o.category, o.x, o.z, o.material) for o in s1.objects]
        assert [_key(o) for o in s0.objects[2:]] == [_key(o) for o in s1.objects[2:]]
        a0, b0 = s0.objects[:2]
        a1, b1 = s1.objects[:2]
        change = twin.change["change"]
        if change == "swap_size":
            assert (a1.size, b1.size) == (b0.size, a0.size) != (a0.size, b0.size)
            assert (a1.colour, b1.colour) == (a0.colour, b0.colour)
        elif change == "swap_colour":
            assert (a1.colour, b1.colour) == (b0.colour, a0.colour) != (a0.colour, b0.colour)
            assert (a1.size, b1.size) == (a0.size, b0.size)
        else:
            field = "colour" if change == "change_colour" else "size"
            diffs = [(o0, o1) for o0, o1 in ((a0, a1), (b0, b1)) if _key(o0) != _key(o1)]
            assert len(diffs) == 1
            o0, o1 = diffs[0]
            assert getattr(o0, field) != getattr(o1, field)
            other = "size" if field == "colour" else "colour"
            assert getattr(o0, other) == getattr(o1, other)


@pytest.mark.parametrize("subset", ["location", "counting", "attribute"])
def test_captions_hard_negatives_and_positives_hold_by_the_scene_graph(subset):
    kinds_seen = set()
    for i, twin in enumerate(twins(subset)):
        for k in (0, 1):
            own, other = twin.scenes[k], twin.scenes[1 - k]
            caption = twin.captions[k]
            assert check(caption, own) is True, caption
            assert check(caption, other) is False, caption
            negatives, positives = twin.rewrites(k, np.random.default_rng(i), CFG)
            assert negatives and positives
            for text, kind in negatives:
                kinds_seen.add(kind)
                assert check(text, own) is False, (kind, caption, text)
            for text, kind in positives:
                kinds_seen.add(kind)
                assert check(text, own) is True, (kind, caption, text)
            assert negatives[0] == (twin.captions[1 - k], "twin")
    expected = {"twin", "synonym", "paraphrase"} | (
        {"count", "number_form"} if subset == "counting" else {"relation", "inverse", "attribute"}
    )
    assert expected <= kinds_seen


def test_every_template_parses_back_to_its_statement():
    rel = Rel(Desc("cube", "red", "large"), "left", Desc("torus", "orange", "small"))
    rel_nosize = Rel(Desc("sphere", "blue"), "on", Desc("cylinder", "green"))
    counts = [Count(Desc("capsule", "pink"), n) for n in (1, 2, 5)]
    for form, verb, phrase, digits, syn, swap in itertools.product(
        ("plain", "conj"), ("is", "is located", "is placed"), range(4), (False, True), (False, True), (False, True)
    ):
        style = Style(form=form, verb=verb, phrase=phrase, digits=digits, synonyms=syn, swap_order=swap)
        for stmt in (rel, rel_nosize):
            assert parse(realize(stmt, style)) == stmt
        count_style = Style(form="lead" if form == "conj" else "there", digits=digits, synonyms=syn)
        for stmt in counts:
            assert parse(realize(stmt, count_style)) == stmt
    with pytest.raises(CaptionParseError):
        parse("A photo of a dog.")


def test_examples_in_eqben_style():
    style = Style(form="plain", verb="is placed", phrase=0)
    assert realize(Rel(Desc("cube", "red"), "left", Desc("sphere", "blue")), style) == "The red cube is placed left of the blue sphere."
    assert realize(Count(Desc("cylinder", "green"), 3), Style(form="there")) == "There are three green cylinders on the platform."
    assert (
        realize(Rel(Desc("cone", "yellow", "large"), "behind", Desc("cube", "purple", "small")), Style())
        == "The large yellow cone is behind the small purple cube."
    )


def _centroid(mask: np.ndarray) -> tuple[float, float]:
    ys, xs = np.nonzero(mask)
    return float(xs.mean()), float(ys.mean())


@pytest.mark.parametrize("subset", ["location", "counting", "attribute"])
def test_rendered_masks_agree_with_captions(subset):
    size = 96
    for twin in twins(subset, 16):
        for k in (0, 1):
            scene, stmt = twin.scenes[k], parse(twin.captions[k])
            r = render_scene(scene, size)
            assert r.image.shape == (size, size, 3) and r.image.dtype == np.uint8
            for i in range(len(scene.objects)):
                visible = int(r.mask(i).sum())
                # nothing is hidden so much that a caption about it could turn false
                assert visible >= 0.5 * r.amodal_area[i] and visible > 0, (subset, i, visible, r.amodal_area[i])
            if isinstance(stmt, Count):
                seen = [i for i, o in enumerate(scene.objects) if stmt.desc.matches(o) and r.mask(i).sum() > 0]
                assert len(seen) == stmt.n
                continue
            a, b = resolve(stmt.a, scene), resolve(stmt.b, scene)
            (ax, ay), (bx, by) = _centroid(r.mask(a)), _centroid(r.mask(b))
            da, db = float(np.median(r.depth[r.mask(a)])), float(np.median(r.depth[r.mask(b)]))
            if stmt.rel == "left":
                assert ax < bx
            elif stmt.rel == "right":
                assert ax > bx
            elif stmt.rel == "front":
                assert da < db and ay > by
            elif stmt.rel == "behind":
                assert da > db and ay < by
            else:  # on top of: above it, horizontally over it
                assert ay < by and abs(ax - bx) < 0.12 * size


def test_render_sizes_and_limits():
    twin = make_twin(item_rng(0, "twins", "location", 0), "location", CFG)
    for size in (32, 512):
        r = render_scene(twin.scenes[0], size)
        assert r.image.shape == (size, size, 3)
        assert r.labels.shape == r.depth.shape == (size, size)
        assert np.isinf(r.depth[r.labels < 0]).all() and np.isfinite(r.depth[r.labels >= 0]).all()
    for bad in (31, 513):
        with pytest.raises(EqvlError):
            render_scene(twin.scenes[0], bad)


def test_render_twin_matches_separate_renders():
    for subset in ("location", "counting", "attribute"):
        twin = make_twin(item_rng(2, "twins", subset, 0), subset, CFG)
        for scene in twin.scenes:
            for size in (64, 160):
                alone = render_scene(scene, size)
                shared = render_twin(twin.scenes, size)[twin.scenes.index(scene)]
                assert (alone.image == shared.image).all() and (alone.labels == shared.labels).all()


def test_png_is_deterministic():
    twin = make_twin(item_rng(3, "twins", "attribute", 1), "attribute", CFG)
    assert render_scene(twin.scenes[1], 64).to_png() == render_scene(twin.scenes[1], 64).to_png()


def test_scene_json_roundtrip():
    twin = make_twin(item_rng(1, "twins", "location", 2), "location", CFG)
    for scene in twin.scenes:
        back = Scene.from_dict(json.loads(json.dumps(scene.to_dict())))
        assert back == scene


def test_relations_are_three_valued():
    twin = make_twin(item_rng(5, "twins", "location", 0), "location", CFG)
    scene = twin.scenes[0].copy()
    scene.objects = scene.objects[:2]
    a, b = scene.objects
    b.support = a.support = None
    a.x, a.z = b.x, b.z + 0.1  # nearly the same spot: neither left/right nor front/behind
    for rel in ("left", "right", "front", "behind"):
        assert geo.relation(scene, 0, 1, rel) is False
    sx, zc = geo.ground_anchor(scene, 1)
    from eqvl.synth.placement import ground_at

    a.x, a.z = ground_at(scene.camera, sx - (geo.H_TRUE + geo.H_FALSE) / 2, zc)  # in the dead zone
    assert geo.relation(scene, 0, 1, "left") is None


def test_options_are_validated():
    with pytest.raises(EqvlError, match="subset"):
        SynthConfig(subsets=("colour",)).validate()
    with pytest.raises(EqvlError, match="size"):
        SynthConfig(size=16).validate()
    with pytest.raises(EqvlError, match="relations"):
        SynthConfig(relations=("left",)).validate()
    with pytest.raises(EqvlError, match="counts"):
        SynthConfig(counts=(0, 9)).validate()


def test_options_shape_the_scenes():
    cfg = SynthConfig(distractors=(3, 3), counts=(2, 3), relations=("front", "behind"), categories=("cube", "sphere", "cone", "star"))
    for twin in twins("location", 8, cfg):
        assert {s.rel for s in twin.statements} <= {"front", "behind"}
        assert all(o.category in cfg.categories for s in twin.scenes for o in s.objects)
    for twin in twins("counting", 8, cfg):
        assert {s.n for s in twin.statements} == {2, 3}
        assert len(twin.scenes[0].objects) - twin.statements[0].n <= 3


def test_sprite_area_filter_is_exact_and_the_pyramid_close():
    """A sprite pixel is the exact area average of the template (summed-area table), and
    small sprites averaged from the pyramid stay within a few percent of it. Checked on the
    public `sprites.sprite` (alpha, unit normals, depth = the averaged channels it returns)."""
    from eqvl.synth import shapes, sprites

    sprites.warm_up(("cube",))
    th, tw = shapes.template_shape()
    stack = shapes.template("cube", 0, 1).stack.astype(np.float64)  # (5, th, tw): alpha, normal xyz, depth (0 outside)

    def brute(h: int, w: int) -> np.ndarray:
        sy, sx = th / h, tw / w
        out = np.zeros((5, h, w))
        for i in range(h):
            for j in range(w):
                y0, y1, x0, x1 = i * sy, (i + 1) * sy, j * sx, (j + 1) * sx
                ry = np.clip(np.minimum(np.arange(th) + 1, y1) - np.maximum(np.arange(th), y0), 0, None)
                rx = np.clip(np.minimum(np.arange(tw) + 1, x1) - np.maximum(np.arange(tw), x0), 0, None)
                out[:, i, j] = np.einsum("chw,h,w->c", stack, ry, rx) / (sy * sx)
        return out

    h, w = 61, 47  # level 0 (fewer than 2 * MIN_SOURCE_PIXELS template pixels per sprite pixel): exact
    assert min(th / h, tw / w) < 2 * sprites.MIN_SOURCE_PIXELS
    sprites.clear_cache()
    alpha, normals, depth = sprites.sprite("cube", 0, 1, w, h)
    want = brute(h, w)
    assert np.abs(alpha - np.clip(want[0], 0, 1)).max() < 1e-4
    assert np.abs(depth * np.maximum(alpha, 1e-6) - want[4]).max() < 1e-4
    solid = want[0] > 0.1
    unit = want[1:4] / np.maximum(np.sqrt((want[1:4] ** 2).sum(0, keepdims=True)), 1e-6)
    assert solid.any() and np.abs(normals - unit)[:, solid].max() < 1e-3
    h, w = 13, 10  # a pyramid level (at least 2 * MIN_SOURCE_PIXELS per sprite pixel): close to exact
    assert min(th / h, tw / w) >= 2 * sprites.MIN_SOURCE_PIXELS
    sprites.clear_cache()
    alpha, _, _ = sprites.sprite("cube", 0, 1, w, h)
    assert np.abs(alpha - np.clip(brute(h, w)[0], 0, 1)).mean() < 0.01
    assert np.abs(alpha - np.clip(brute(h, w)[0], 0, 1)).max() < 0.1


def test_shadows_are_the_product_of_gaussian_ellipses():
    from eqvl.synth.floor import shade_maps

    blobs = [(0.3, 0.6, 0.1, 0.05, 0.45), (0.7, 0.7, 0.08, 0.04, 0.35)]
    shade = shade_maps([blobs, []], 64)
    assert shade[1] is None
    g = (np.arange(64) + 0.5) / 64
    want = np.ones((64, 64))
    for cx, cy, rx, ry, st in blobs:
        want *= 1 - st * np.exp(-2.2 * (((g[None, :] - cx) / rx) ** 2 + ((g[:, None] - cy) / ry) ** 2))
    assert shade[0].shape == (64, 64) and np.abs(shade[0] - want).max() < 1e-5


def test_png_level_by_size_and_stored_pngs_decode():
    import io

    from PIL import Image

    assert SynthConfig(size=64).png_level() == 0 and SynthConfig(size=224).png_level() == 1
    assert SynthConfig(size=64, png_compress=6).png_level() == 6
    with pytest.raises(EqvlError):
        SynthConfig(png_compress=10).validate()
    twin = make_twin(item_rng(3, "twins", "counting", 2), "counting", CFG)
    rendered = render_scene(twin.scenes[0], 64)
    for level in (0, 1):
        with Image.open(io.BytesIO(rendered.to_png(level))) as im:
            assert (np.asarray(im.convert("RGB")) == rendered.image).all()


def test_item_generator_draws_numpys_numbers():
    from eqvl.synth.rng import ItemGenerator

    script = np.random.default_rng(0)
    for trial in range(200):
        seq = np.random.SeedSequence(entropy=trial, spawn_key=(1, 2, trial))
        ours, numpys = ItemGenerator(np.random.PCG64(seq)), np.random.default_rng(seq)
        for _ in range(40):
            op = int(script.integers(5))
            if op == 0:
                n = int(script.choice([1, 2, 3, 7, 30, 3 * 2**30 + 1, 2**32, 2**40]))
                assert ours.integers(n) == numpys.integers(n)
            elif op == 1:
                low = int(script.integers(0, 5))
                assert ours.integers(low, low + 3) == numpys.integers(low, low + 3)
            elif op == 2:
                assert ours.random() == numpys.random() and ours.uniform(-1, 2) == numpys.uniform(-1, 2)
            elif op == 3:
                n = int(script.integers(1, 9))
                assert ours.permutation(n).tolist() == numpys.permutation(n).tolist()
            else:
                assert ours.random((3, 2)).tolist() == numpys.random((3, 2)).tolist()


def test_written_files_get_the_users_umask_mode(tmp_path):
    """Data files, manifest and gallery are written atomically (mkstemp makes 0600); they must
    end up with the mode the user's umask gives, like any other file they create."""
    import os

    from eqvl.synth.gallery import write_gallery
    from eqvl.synth.writer import generate

    old = os.umask(0o027)
    try:
        cfg = SynthConfig(out=str(tmp_path / "s"), twins=2, train=2, size=32, seed=3, progress=False)
        generate(cfg)
        write_gallery(tmp_path / "g.png", cfg, per_subset=1)
    finally:
        os.umask(old)
    files = [tmp_path / "g.png", *(tmp_path / "s").glob("*.*")]
    assert {p.name for p in files} >= {"manifest.json", "twins.jsonl", "train.csv", "g.png"}
    assert {oct(p.stat().st_mode & 0o777) for p in files} == {oct(0o640)}
