"""Pair scorers (ITM heads, VQAScore) cannot embed separately: score exactly the unique (image,
caption) pairs asked for, cache first, each score keyed by (scorer identity, image content, text).

Pairs are grouped by image: each image is decoded once (in DataLoader workers), and a scorer that
can share an image's work between captions (`GroupedPairScorer`: BLIP's vision tower once per
image) gets each batch as unique images + a pair -> image map. `cfg.batch_size` is pairs per call.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np
import torch
from eqvl.processes import data_loader
from eqvl.progress import progress_bar

from eqvl.data.images import text_content_key
from eqvl.data.records import ImageRef
from eqvl.encode.images import ImageSet, content_keys
from eqvl.encode.types import EncodeConfig, EncodeStats
from eqvl.errors import EqvlError
from eqvl.models.base import GroupedPairScorer, PairScorer

if TYPE_CHECKING:
    from eqvl.models.base import PairScorer


@dataclass
class PairScores:
    """One score per requested pair (NaN where its image failed); `bad`: image index -> error."""

    values: np.ndarray
    bad: dict[int, str] = field(default_factory=dict)
    stats: EncodeStats = field(default_factory=EncodeStats)


def score_pairs(
    scorer: PairScorer,
    refs: Sequence[ImageRef],
    texts: Sequence[str],
    pairs: Sequence[tuple[int, int]],
    cfg: EncodeConfig,
    on_bad: Callable[[int, str], None],
) -> PairScores:
    """Score each (image index, caption index) pair once, cache first. `on_bad(i, msg)` may raise."""
    values = np.full(len(pairs), np.nan, dtype=np.float64)
    bad: dict[int, str] = {}
    stats = EncodeStats(unique=len(pairs))
    keys: list[str | None] = [None] * len(pairs)
    if cfg.cache is not None:
        img_keys, bad = content_keys(refs, workers=max(2, cfg.workers))
        for i, msg in bad.items():
            on_bad(i, msg)
        txt_keys = [text_content_key(t) for t in texts]
        keys = [f"{img_keys[i]}|{txt_keys[c]}" if img_keys[i] else None for i, c in pairs]
        hits = cfg.cache.lookup("pair", [k for k in keys if k])
        for p, k in enumerate(keys):
            if k in hits:
                values[p] = float(hits[k][0])
        stats.cached = sum(1 for k in keys if k in hits)
    todo = [p for p, (i, _) in enumerate(pairs) if np.isnan(values[p]) and i not in bad]
    if todo:
        run = _Run(scorer, pairs, texts, keys, cfg, values, bad, stats, on_bad)
        run.go(refs, todo)
    stats.failed = len(bad)
    return PairScores(values, bad, stats)


def _as_list(batch):
    return batch  # [(index, preprocessed or None, error or None, key)]: images may differ in size


class _Run:
    """One scoring pass: images decoded once each, their pairs queued, scored `batch_size` at a time."""

    def __init__(self, scorer: PairScorer, pairs, texts, keys, cfg: EncodeConfig, values: np.ndarray,
                 bad: dict[int, str], stats: EncodeStats, on_bad) -> None:
        self.scorer, self.pairs, self.texts, self.keys, self.cfg = scorer, pairs, texts, keys, cfg
        self.values, self.bad, self.stats, self.on_bad = values, bad, stats, on_bad
        self.decoded: dict[int, Any] = {}
        self.bar = progress_bar(total=0, desc="scoring pairs", unit="pair", disable=not cfg.progress)

    def go(self, refs: Sequence[ImageRef], todo: list[int]) -> None:
        by_image: dict[int, list[int]] = {}
        for p in todo:
            by_image.setdefault(self.pairs[p][0], []).append(p)
        order = list(by_image)
        self.bar.total = len(todo)
        loader = data_loader(ImageSet([refs[i] for i in order], self.scorer.preprocess), batch_size=self.cfg.batch_size,
                             shuffle=False, num_workers=self.cfg.workers, collate_fn=_as_list)
        pending: list[int] = []
        try:
            for batch in loader:
                for j, item, err, _ in batch:
                    image = order[j]
                    if err is not None:
                        self.bad[image] = err
                        self.on_bad(image, err)
                        self.bar.update(len(by_image[image]))
                        continue
                    self.decoded[image] = item
                    pending.extend(by_image[image])
                while len(pending) >= self.cfg.batch_size:
                    self._score(pending[: self.cfg.batch_size])
                    pending = pending[self.cfg.batch_size:]
                    self._forget(pending)
            if pending:
                self._score(pending)
        finally:
            self.bar.close()
            if self.cfg.cache is not None:
                self.cfg.cache.flush("pair")

    def _forget(self, pending: list[int]) -> None:
        """Drop decoded images whose pairs are all scored (pairs of one image are queued together)."""
        keep = {self.pairs[p][0] for p in pending}
        for image in [i for i in self.decoded if i not in keep]:
            del self.decoded[image]

    def _score(self, chunk: list[int]) -> None:
        images = list(dict.fromkeys(self.pairs[p][0] for p in chunk))
        where = {image: n for n, image in enumerate(images)}
        texts = [self.texts[self.pairs[p][1]] for p in chunk]
        if isinstance(self.scorer, GroupedPairScorer):
            out = self.scorer.score_grouped([self.decoded[i] for i in images],
                                            [where[self.pairs[p][0]] for p in chunk], texts)
        else:
            out = self.scorer.score_pairs(torch.stack([self.decoded[self.pairs[p][0]] for p in chunk]), texts)
        s = out.detach().float().cpu().numpy().reshape(-1)
        if len(s) != len(chunk):
            raise EqvlError(f"{getattr(self.scorer, 'name', 'the pair scorer')} returned {len(s)} scores "
                            f"for {len(chunk)} pairs")
        self.values[chunk] = s
        self.stats.encoded += len(chunk)
        if self.cfg.cache is not None:
            good = [(self.keys[p], v) for p, v in zip(chunk, s) if self.keys[p]]
            if good:
                self.cfg.cache.add("pair", [k for k, _ in good], np.asarray([v for _, v in good]).reshape(-1, 1))
        self.bar.update(len(chunk))
