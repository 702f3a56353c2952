"""The training Dataset: rows -> decoded, transformed images with their captions and hard negatives.

Data order and augmentation are pure functions of (data seed, epoch, index), so a resumed run
sees exactly the batches an uninterrupted one would, whatever the number of workers. When a loss
needs hard negatives / positives the file does not have, an `Augmenter` (by default
`eqvl.augment.augment_caption`) makes them per row; callers pass their own (or None) to `train`.
"""

from __future__ import annotations

import hashlib
import io
from typing import Any, Callable, Protocol

import torch
from PIL import Image

from eqvl.data.images import decode_rgb
from eqvl.errors import DataError, EqvlError
from eqvl.train.records import Row


def seed_of(*parts: int) -> int:
    """A 63-bit seed from integers (stable across processes and Python versions)."""
    digest = hashlib.blake2b(",".join(map(str, parts)).encode(), digest_size=8).digest()
    return int.from_bytes(digest, "little") & ((1 << 63) - 1)

class Augmenter(Protocol):
    """`augment(caption, seed=...)` -> an object with `.negatives` / `.positives`, lists of items
    with `.text`, `.type` and `.valid` (what `eqvl.augment.augment_caption` returns)."""

    def __call__(self, caption: str, /, *, seed: int) -> Any: ...


def default_augmenter() -> Augmenter | None:
    """`eqvl.augment.augment_caption`, or None when the augment package is not importable."""
    try:
        from eqvl.augment import augment_caption
    except ImportError:
        return None
    return augment_caption


def load_row_image(row: Row) -> Image.Image:
    """Decode a row's image (a file, or a member of a tar shard) by eqvl's one decoding rule
    (`eqvl.data.images.decode_rgb`: 16-bit, palette, CMYK, EXIF rotation); failures name the row."""
    try:
        if row.blob is not None:
            tar, offset, size = row.blob
            with open(tar, "rb") as fh:
                fh.seek(offset)
                return decode_rgb(io.BytesIO(fh.read(size)), row.pair.image)
        return decode_rgb(row.pair.image)
    except DataError as exc:
        raise DataError(f"{row.where}: {exc} (`check_images` finds such rows before the first step and skips them)",
                        params=("check_images",)) from None
    except OSError as exc:
        raise DataError(f"{row.where}: cannot read image {row.pair.image}: {exc}") from None


def check_images(rows: list[Row], report: Any, strict: bool) -> list[Row]:
    """`check_images`: decode every image once before training; rows whose image fails are counted in the
    report as bad and dropped (or, `strict` = `skip_bad` off, stop the run naming the row)."""
    good = []
    for row in rows:
        try:
            load_row_image(row)
        except DataError as exc:
            if strict:
                raise
            reason = "image too large" if "too large" in str(exc) else "unreadable image"
            report.add_bad(reason, row.where)
            continue
        good.append(row)
    report.used = len(good)
    if not good:
        raise DataError(f"no usable rows ({report.summary()})", path=report.source)
    return good


class PairDataset(torch.utils.data.Dataset):
    """Rows -> {"image", "caption", "negatives": [(text, type)], "positives": [text]}."""

    def __init__(self, rows: list[Row], preprocess: Callable, *, negatives: bool, positives: bool,
                 generate_negatives: bool, generate_positives: bool, seed: int, preload: bool = False,
                 deterministic_transform: bool = False, max_negatives: int = 4, max_positives: int = 2,
                 augmenter: Augmenter | None = None):
        self.rows, self.preprocess = rows, preprocess
        self.negatives, self.positives = negatives, positives
        self.generate_negatives, self.generate_positives = generate_negatives, generate_positives
        self.seed, self.epoch = seed, 0
        self.max_negatives, self.max_positives = max_negatives, max_positives
        #: makes the missing hard negatives / positives (required when generating them)
        self.augment = augmenter if (generate_negatives or generate_positives) else None
        if (generate_negatives or generate_positives) and augmenter is None:
            raise EqvlError("PairDataset: generating hard negatives / positives needs an augmenter")
        self._images: list[Any] | None = None
        #: --close-cache (ITM models): draws each row's negatives among its cached close captions
        self.close: Any = None
        self._texts: dict[int, tuple[list, list]] = {}
        self._pretransformed = False
        if preload:
            # decoded once; with a deterministic transform even the tensor is computed once
            self._images = [self._load(i, deterministic_transform) for i in range(len(rows))]
            self._pretransformed = deterministic_transform

    def set_epoch(self, epoch: int) -> None:
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.rows)

    def _load(self, idx: int, transform: bool) -> Any:
        img = load_row_image(self.rows[idx])
        return self.preprocess(img) if transform else img

    def _extra_texts(self, idx: int) -> tuple[list[tuple[str, str]], list[str]]:
        if idx in self._texts:
            return self._texts[idx]
        pair = self.rows[idx].pair
        negs = list(zip(pair.hard_negatives, pair.negative_types)) if self.negatives else []
        pos = list(pair.hard_positives) if self.positives else []
        if self.augment is not None and ((self.negatives and self.generate_negatives) or (self.positives and self.generate_positives)):
            res = self.augment(pair.caption, seed=seed_of(self.seed, idx))
            if self.negatives and self.generate_negatives:
                negs = [(r.text, r.type) for r in res.negatives if r.valid][: self.max_negatives]
            if self.positives and self.generate_positives:
                pos = [r.text for r in res.positives if r.valid][: self.max_positives]
        self._texts[idx] = (negs, pos)
        return negs, pos

    def image(self, idx: int) -> Any:
        if self._images is not None and self._pretransformed:
            return self._images[idx]
        img = self._images[idx] if self._images is not None else self._load(idx, False)
        # augmentation randomness depends only on (seed, epoch, idx): exact resume, any worker count
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(seed_of(self.seed, self.epoch, idx))
            return self.preprocess(img)

    def __getitem__(self, idx: int) -> dict[str, Any]:
        negs, pos = self._extra_texts(idx)
        item = {"index": idx, "image": self.image(idx), "caption": self.rows[idx].pair.caption, "negatives": negs,
                "positives": pos}
        if self.close is not None:  # its ITM negatives: cached close captions, with their own images
            rows, scores = self.close.draw(idx, self.epoch)
            item["close"] = {"rows": rows, "scores": scores, "images": [self.image(int(j)) for j in rows],
                             "captions": [self.rows[int(j)].pair.caption for j in rows]}
        return item

