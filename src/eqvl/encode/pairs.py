"""Pair scorers (ITM heads) cannot embed separately: score exactly the unique (image, caption)
pairs asked for, decoding each batch in workers and caching each score by content."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Sequence

import numpy as np
from tqdm.auto import tqdm

from eqvl.data.images import text_content_key
from eqvl.data.records import ImageRef
from eqvl.encode.images import ImageSet, content_keys, image_batches
from eqvl.encode.types import EncodeConfig, EncodeStats, device_of
from eqvl.errors import EqvlError
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
        stats.cached = len(hits)
    todo = [p for p, (i, _) in enumerate(pairs) if np.isnan(values[p]) and i not in bad]
    if todo:
        dataset = ImageSet([refs[pairs[p][0]] for p in todo], scorer.preprocess)
        _score_new(scorer, dataset, todo, pairs, texts, keys, cfg, values, bad, stats, on_bad)
    stats.failed = len(bad)
    return PairScores(values, bad, stats)


def _score_new(scorer, dataset: ImageSet, todo: list[int], pairs, texts, keys, cfg: EncodeConfig,
               values: np.ndarray, bad: dict[int, str], stats: EncodeStats, on_bad) -> None:
    bar = tqdm(total=len(todo), desc="scoring pairs", unit="pair", disable=not cfg.progress)
    try:
        for local_index, pixels, failures, _ in image_batches(dataset, cfg, device_of(scorer)):
            for j, msg in failures:
                img = pairs[todo[j]][0]
                bad[img] = msg
                on_bad(img, msg)
            if pixels is None:
                bar.update(len(failures))
                continue
            batch_texts = [texts[pairs[todo[j]][1]] for j in local_index]
            s = scorer.score_pairs(pixels, batch_texts).detach().float().cpu().numpy().reshape(-1)
            if len(s) != len(batch_texts):
                raise EqvlError(f"score_pairs returned {len(s)} scores for {len(batch_texts)} pairs")
            for j, v in zip(local_index, s):
                values[todo[j]] = v
            stats.encoded += len(local_index)
            if cfg.cache is not None:
                cfg.cache.add("pair", [keys[todo[j]] for j in local_index], s.reshape(-1, 1))
            bar.update(len(local_index) + len(failures))
    finally:
        bar.close()
        if cfg.cache is not None:
            cfg.cache.flush("pair")
