"""EqBen's subset names: the official annotation file stems and image-folder prefixes -> eqvl's names."""

from __future__ import annotations

import re
from collections import OrderedDict

OFFICIAL_SUBSETS = OrderedDict(
    [
        ("eqbenag", "ag"),
        ("eqbenyoucook2", "youcook2"),
        ("eqbengebc", "gebc"),
        ("eqbenkubric_loc", "kubric_location"),
        ("eqbenkubric_cnt", "kubric_counting"),
        ("eqbenkubric_attr", "kubric_attribute"),
        ("eqbensd", "sd"),
    ]
)
SUBSET_ORDER = list(OFFICIAL_SUBSETS.values())


def subset_name(stem: str) -> str | None:
    """Map a file stem or image-path prefix to an eqvl subset name (None if unknown)."""
    s = stem.lower()
    if s in OFFICIAL_SUBSETS:
        return OFFICIAL_SUBSETS[s]
    if s in SUBSET_ORDER:
        return s
    s = s.removeprefix("eqben").strip("_-")
    if "kubric" in s:
        if "loc" in s:
            return "kubric_location"
        if "cnt" in s or "count" in s:
            return "kubric_counting"
        if "attr" in s:
            return "kubric_attribute"
        return None
    if "youcook" in s:
        return "youcook2"
    if "gebc" in s:
        return "gebc"
    if re.fullmatch(r"(ag|action_?genome)([_-].*)?", s):
        return "ag"
    if re.fullmatch(r"sd([_-].*)?", s):
        return "sd"
    return None


def prefix_subset(rel: str) -> str:
    """The subset named by an image path's first folder (eqbenag/...), else "all"."""
    head = rel.replace("\\", "/").split("/", 1)[0]
    return subset_name(head) or "all"
