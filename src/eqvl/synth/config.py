"""SynthConfig: every option of `eqvl synth`, validated in one place."""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from eqvl.errors import EqvlError
from eqvl.synth import vocab
from eqvl.synth.render import MAX_SIZE, MIN_SIZE

SUBSETS = ("location", "counting", "attribute")
#: images up to this size are stored without deflate by default (see SynthConfig.png_level)
AUTO_STORED_MAX_SIZE = 96


@dataclass
class SynthConfig:
    """Options of the generator. `twins` is per subset (as EQ-Kubric's 2,000 per split);
    `train` is the number of training rows (images), made as twin pairs unless
    `train_twins` is False. Fields below `workers` do not change the output."""

    out: str | None = None
    subsets: tuple[str, ...] = SUBSETS
    twins: int = 100
    train: int = 0
    size: int = 224
    seed: int = 0
    distractors: tuple[int, int] = (0, 2)
    counts: tuple[int, int] = (1, 5)
    relations: tuple[str, ...] = vocab.RELATIONS
    categories: tuple[str, ...] = tuple(vocab.CATEGORIES)
    colours: tuple[str, ...] = tuple(vocab.COLOURS)
    materials: tuple[str, ...] = vocab.MATERIALS
    train_mix: dict[str, float] = field(default_factory=dict)  # subset -> weight; empty = the twin subsets, equally
    train_twins: bool = True
    png_compress: int | None = None  # zlib level 0-9; None = png_level()'s choice by size
    # -- run options (no effect on the bytes written)
    workers: int = 1
    overwrite: bool = False
    resume: bool = False
    progress: bool = True

    RUN_ONLY = ("out", "workers", "overwrite", "resume", "progress")

    def validate(self) -> "SynthConfig":
        """Raise EqvlError naming the bad option; returns self."""
        _known("subset", self.subsets, SUBSETS)
        _known("relation", self.relations, vocab.RELATIONS)
        _known("category", self.categories, tuple(vocab.CATEGORIES))
        _known("colour", self.colours, tuple(vocab.COLOURS))
        _known("material", self.materials, vocab.MATERIALS)
        _known("train-mix subset", tuple(self.train_mix), SUBSETS)
        if not self.subsets and not (self.train and self.train_mix):
            raise EqvlError("choose at least one subset")
        if self.twins < 0 or self.train < 0:
            raise EqvlError("`twins` and `train` must be >= 0", params=("twins", "train"))
        if not MIN_SIZE <= self.size <= MAX_SIZE:
            raise EqvlError(f"`size` must be between {MIN_SIZE} and {MAX_SIZE}, got {self.size}", params=("size",))
        lo, hi = self.counts
        if not (1 <= lo < hi <= 5):
            raise EqvlError(f"`counts` must be a range within 1-5 with at least two values, got {lo}-{hi}", params=("counts",))
        dlo, dhi = self.distractors
        if not (0 <= dlo <= dhi <= 6):
            raise EqvlError(f"`distractors` must be a range within 0-6, got {dlo}-{dhi}", params=("distractors",))
        if "location" in self._all_subsets() and len(self.relations) < 2:
            raise EqvlError("the location subset needs at least two `relations` (the twin changes the relation)", params=("relations",))
        if "attribute" in self._all_subsets() and not set(self.relations) - {"on"}:
            raise EqvlError("the attribute subset needs one of left/right/front/behind in `relations`", params=("relations",))
        if "on" in self.relations and not {"cube", "cylinder"} & set(self.categories):
            raise EqvlError("relation 'on' needs a cube or cylinder among `categories`", params=("categories",))
        if len(self.categories) < 4:
            raise EqvlError("need at least 4 `categories` (named objects plus distractors)", params=("categories",))
        if len(self.colours) < 3:
            raise EqvlError("need at least 3 `colours`", params=("colours",))
        if any(w < 0 for w in self.train_mix.values()) or (self.train_mix and sum(self.train_mix.values()) <= 0):
            raise EqvlError("`train_mix` weights must be >= 0 and not all 0", params=("train_mix",))
        if self.resume and self.overwrite:
            raise EqvlError("`resume` and `overwrite` exclude each other", params=("resume", "overwrite"))
        if self.workers < 1:
            raise EqvlError("`workers` must be >= 1", params=("workers",))
        if self.png_compress is not None and not 0 <= self.png_compress <= 9:
            raise EqvlError("png_compress must be 0-9")
        return self

    def png_level(self) -> int:
        """zlib level of the PNGs: `png_compress`, or by default 0 (stored) up to 96 px and 1
        above. Deflating a 64 px image costs about 15 % of a twin's CPU time (on the
        development VM) and saves 7 KB per file; at 224 px it shrinks files 4x."""
        if self.png_compress is not None:
            return int(self.png_compress)
        return 0 if self.size <= AUTO_STORED_MAX_SIZE else 1

    def _all_subsets(self) -> set[str]:
        return set(self.subsets) | {k for k, w in self.train_mix.items() if w > 0}

    def mix(self) -> dict[str, float]:
        """Normalised training subset weights."""
        raw = {k: float(w) for k, w in self.train_mix.items() if w > 0} or {s: 1.0 for s in self.subsets}
        total = sum(raw.values())
        return {k: raw[k] / total for k in SUBSETS if k in raw}

    def content_args(self) -> dict[str, Any]:
        """The options that determine the output bytes (stored in manifest.json)."""
        out = {}
        for f in fields(self):
            if f.name in self.RUN_ONLY:
                continue
            value = getattr(self, f.name)
            out[f.name] = list(value) if isinstance(value, tuple) else value
        out["train_mix"] = self.mix() if self.train else {}
        out["png_compress"] = self.png_level()
        return out


def _known(what: str, given: tuple[str, ...], valid: tuple[str, ...]) -> None:
    bad = [g for g in given if g not in valid]
    if bad:
        raise EqvlError(f"unknown {what} {bad[0]!r}; valid: {', '.join(valid)}")
