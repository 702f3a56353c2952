"""Plain dataclasses every arrow in eqvl passes around.

A benchmark is read into a list of `ScoreItem`s: each names a few images and a few
captions, and the metric needs the full captions x images score matrix of that item.
Twins (2 x 2), foils (2 captions x 1 image), triplets (3 x 1) and ARO orderings (5 x 1)
all fit this one shape, so the scoring engine needs no benchmark-specific code.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class ImageRef:
    """Where an image lives and how to cut it out.

    `path` is absolute or relative to the process's cwd (readers resolve it).
    `bbox` = (x, y, w, h) crops the image first (ARO's VG sets).
    `.npy` files are decoded as H x W x 3 uint8 arrays in BGR order (EqBen's YouCook2).
    """

    path: str
    bbox: tuple[float, float, float, float] | None = None

    def key(self) -> str:
        return self.path if self.bbox is None else f"{self.path}#bbox={','.join(f'{v:g}' for v in self.bbox)}"


@dataclass
class ScoreItem:
    """One unit of a benchmark: its metric needs s(caption_c, image_i) for all c, i.

    Caption order and image order carry the benchmark's meaning (for twins,
    caption_0 belongs to image_0; for foils, captions = [true, foil]).
    """

    id: str
    images: list[ImageRef]
    captions: list[str]
    subset: str = "all"
    meta: dict[str, Any] = field(default_factory=dict)


@dataclass
class TrainPair:
    """One training example: an image, its caption, and optional hard negatives / positives."""

    image: str
    caption: str
    hard_negatives: list[str] = field(default_factory=list)
    hard_positives: list[str] = field(default_factory=list)
    negative_types: list[str] = field(default_factory=list)
