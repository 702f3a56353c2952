"""The engine's vocabulary: object categories, colours, sizes, numbers and relation words.

One table feeds the sampler (what can exist), the renderer (what it looks like), the
caption templates (how it is said) and the caption checker (how it is read back), so
the four can never disagree about a word.
"""

from __future__ import annotations

#: category -> (plural, synonyms as (singular, plural) pairs). Synonyms make hard positives.
CATEGORIES: dict[str, tuple[str, tuple[tuple[str, str], ...]]] = {
    "cube": ("cubes", (("block", "blocks"),)),
    "sphere": ("spheres", (("ball", "balls"),)),
    "cylinder": ("cylinders", (("can", "cans"),)),
    "cone": ("cones", ()),
    "pyramid": ("pyramids", ()),
    "torus": ("tori", (("ring", "rings"), ("donut", "donuts"))),
    "star": ("stars", ()),
    "capsule": ("capsules", (("pill", "pills"),)),
}

#: colour name -> linear-ish sRGB albedo in [0, 1]; saturated and far apart so that
#: they stay distinct at 64 px under shading.
COLOURS: dict[str, tuple[float, float, float]] = {
    "red": (0.86, 0.10, 0.10),
    "orange": (1.00, 0.52, 0.05),
    "yellow": (0.98, 0.88, 0.12),
    "green": (0.15, 0.70, 0.20),
    "cyan": (0.10, 0.80, 0.85),
    "blue": (0.12, 0.25, 0.90),
    "purple": (0.55, 0.18, 0.80),
    "pink": (1.00, 0.45, 0.72),
}

SIZES = ("small", "large")
#: world scale of each size (the unit template is about one world unit tall)
SIZE_SCALE = {"small": 0.9, "large": 1.4}
#: size word -> synonyms (hard positives)
SIZE_SYNONYMS = {"small": ("little", "tiny"), "large": ("big",)}

MATERIALS = ("rubber", "metal")

NUMBER_WORDS = {1: "one", 2: "two", 3: "three", 4: "four", 5: "five", 6: "six", 7: "seven"}

#: relation -> its inverse (A rel B  <=>  B inverse A); "on" has no expressed inverse
RELATIONS = ("left", "right", "front", "behind", "on")
INVERSE = {"left": "right", "right": "left", "front": "behind", "behind": "front"}

#: relation -> paraphrases, in EqBen's Kubric style ("on the left of", "on the left side of", ...)
RELATION_PHRASES: dict[str, tuple[str, ...]] = {
    "left": ("left of", "on the left of", "on the left side of", "to the left of"),
    "right": ("right of", "on the right of", "on the right side of", "to the right of"),
    "front": ("in front of",),
    "behind": ("behind",),
    "on": ("on top of", "on the top of"),
}

VERBS = ("is", "is located", "is placed")
PLACES = ("on the platform", "in the scene")


def plural(category: str) -> str:
    """Plural of a category or synonym word."""
    if category in CATEGORIES:
        return CATEGORIES[category][0]
    for _, (_, syns) in CATEGORIES.items():
        for singular, plural_form in syns:
            if singular == category:
                return plural_form
    raise KeyError(category)


def noun_words() -> dict[str, tuple[str, bool]]:
    """Every noun the captions may use -> (canonical category, is_plural)."""
    words: dict[str, tuple[str, bool]] = {}
    for cat, (plural_form, syns) in CATEGORIES.items():
        words[cat] = (cat, False)
        words[plural_form] = (cat, True)
        for singular, plural_syn in syns:
            words[singular] = (cat, False)
            words[plural_syn] = (cat, True)
    return words


def size_words() -> dict[str, str]:
    """Every size word -> canonical size."""
    words = {size: size for size in SIZES}
    for size, syns in SIZE_SYNONYMS.items():
        for word in syns:
            words[word] = size
    return words


def number_words() -> dict[str, int]:
    """Digits and number words -> int."""
    words = {str(n): n for n in NUMBER_WORDS}
    words.update({word: n for n, word in NUMBER_WORDS.items()})
    return words
