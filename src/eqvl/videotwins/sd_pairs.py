"""EQ-SD-style caption pairs (EqBen appendix B.5, figure 15) and their optional rendering.

Three kinds of semantic-minimal edits, drawn at random (seeded) from figure 15's tables:
object change (two animals of one set in one shared scene), scene change (one landscape in two
conditions) and attribute change (accessories, colours, or image style). Scenes are chosen from
the subset that suits the object, as the paper does ("horse" -> grass / desert / river / zoo).
`render_pairs` draws both captions from the same seed and the same initial noise with a local
diffusers pipeline, so the two images differ only where the captions do.
"""

from __future__ import annotations

import random
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from eqvl.errors import EqvlError

#: figure 15, object change: object sets, each with the scene set it is drawn with (in the table's order;
#: the table lists 8 object sets and 7 scene sets, so the last set, bear / tiger / lion / pig, gets ours)
ANIMAL_SETS = [
    (["cattle", "horse", "elephant", "goat", "deer", "camel", "zebra"], ["standing on the grass", "in the desert", "near the river", "in the zoo"]),
    (["rabbit", "cat", "dog", "wolf", "fox", "rat", "squirrel"], ["standing on the grass", "eating", "in the wild", "on the desk", "on the bench"]),
    (["monkey", "koala", "panda"], ["standing on the grass", "in the jungle", "on the tree", "in the wild"]),
    (["bird", "eagle", "dove"], ["in the sky", "on the tree", "standing on the branch"]),
    (["duck", "chicken"], ["on the ground", "in the wild"]),
    (["shark", "fish", "shrimp", "whale", "dolphin"], ["in the river", "under the water"]),
    (["crab", "frog"], ["aside the river", "under the river", "in the zoo"]),
    (["bear", "tiger", "lion", "pig"], ["standing on the grass", "in the wild", "in the zoo"]),
]
#: figure 15, scene change
LANDSCAPES = [
    ("a house on a mountain", ["at sunset", "at night", "at winter", "at fall", "at fog", "in the desert"]),
    ("a river through the valley", ["at sunset with clouds", "under noon sunshine", "at winter with snow", "at fall", "at fog"]),
    ("a modern city street", ["at sunset with clouds", "at winter with snow", "at fall", "at fog", "in heavy raining"]),
    ("a beach", ["at sunset", "at fog", "at rainstorm"]),
]
#: figure 15, attribute change ("" is the table's N.A.: no accessory)
PETS = ["dog", "cat"]
ACCESSORIES = ["", "wearing a sunglasses", "wearing a scarf", "wearing a crown", "wearing a cap", "wearing a cowboy hat"]
COLOURS = ["black", "blue", "brown", "red"]
STYLE_OBJECTS = ["dog", "car", "bicycle", "cat", "bus", "train", "bird", "horse", "cake", "desk"]
STYLES = ["a real image of", "an oil painting of", "a pencil sketch of", "a Van Gogh post-impressionism painting of"]
MEDIA = ["photo", "painting"]
ASPECTS = ("object", "scene", "attribute")


def article(noun_phrase: str) -> str:
    return ("an " if noun_phrase[:1].lower() in "aeiou" else "a ") + noun_phrase


def _sentence(text: str) -> str:
    text = " ".join(text.split())
    return text[:1].upper() + text[1:] + "."


@dataclass(frozen=True)
class CaptionPair:
    aspect: str
    template: str
    caption_0: str
    caption_1: str


def draw_pair(rng: random.Random) -> CaptionPair:
    """One semantic-minimal caption pair from figure 15's tables."""
    aspect = rng.choice(ASPECTS)
    if aspect == "object":
        animals, scenes = rng.choice(ANIMAL_SETS)
        a, b = rng.sample(animals, 2)
        medium, scene = rng.choice(MEDIA), rng.choice(scenes)
        caps = [_sentence(f"a {medium} of {article(x)} {scene}") for x in (a, b)]
        return CaptionPair(aspect, "A photo/painting of <object> <scene>.", *caps)
    if aspect == "scene":
        place, conditions = rng.choice(LANDSCAPES)
        a, b = rng.sample(conditions, 2)
        return CaptionPair(aspect, "A photo of <object> <scene>.", *[_sentence(f"a photo of {place} {c}") for c in (a, b)])
    kind = rng.choice(("accessory", "colour", "style"))
    medium = rng.choice(MEDIA)
    if kind == "accessory":
        pet = rng.choice(PETS)
        a, b = rng.sample(ACCESSORIES, 2)
        caps = [_sentence(f"a {medium} of {article(pet)} {x}") for x in (a, b)]
        return CaptionPair(aspect, "A photo/painting of <object> <attribute>.", *caps)
    if kind == "colour":
        pet = rng.choice(PETS)
        a, b = rng.sample(COLOURS, 2)
        return CaptionPair(aspect, "A photo/painting of <attribute> <object>.", *[_sentence(f"a {medium} of {article(c + ' ' + pet)}") for c in (a, b)])
    obj = rng.choice(STYLE_OBJECTS)
    a, b = rng.sample(STYLES, 2)
    return CaptionPair(aspect, "<attribute> <object>.", *[_sentence(f"{s} {article(obj)}") for s in (a, b)])


def make_pairs(n: int, seed: int = 0) -> list[dict[str, Any]]:
    """`n` caption pairs (records for pairs.jsonl), reproducible from `seed`.

    Figure 15's tables allow about 700 distinct pairs; beyond those a pair may repeat with a new
    rendering seed (as EQ-SD's 1,513 samples must), marked `"repeat": true`.
    """
    if n < 1:
        raise EqvlError(f"`n` must be >= 1, got {n}", params=("n",))
    rng = random.Random(seed)
    rows: list[dict[str, Any]] = []
    seen: set[tuple[str, str]] = set()
    misses = 0
    while len(rows) < n:
        pair = draw_pair(rng)
        key = (min(pair.caption_0, pair.caption_1), max(pair.caption_0, pair.caption_1))
        repeat = key in seen
        if repeat and misses < 2000:  # keep drawing distinct pairs until they run out
            misses += 1
            continue
        misses = 0 if not repeat else misses
        seen.add(key)
        k = len(rows)
        row = {"id": f"sd/{k:06d}", "subset": "sd", "aspect": pair.aspect, "template": pair.template,
               "caption_0": pair.caption_0, "caption_1": pair.caption_1, "seed": seed * 1_000_003 + k}
        if repeat:
            row["repeat"] = True
        rows.append(row)
    return rows


def aspect_counts(rows: list[dict[str, Any]]) -> dict[str, int]:
    return dict(sorted(Counter(r["aspect"] for r in rows).items()))


def parse_render(spec: str) -> Path:
    """`diffusers:DIR` -> DIR (a local diffusers pipeline folder saved with save_pretrained)."""
    kind, _, where = spec.partition(":")
    if kind != "diffusers" or not where:
        raise EqvlError(f"`render`: expected diffusers:DIR, got {spec!r}", params=("render",))
    path = Path(where)
    if not (path / "model_index.json").is_file():
        raise EqvlError(f"`render`: {path} is not a diffusers pipeline folder (no model_index.json)", params=("render",))
    return path
