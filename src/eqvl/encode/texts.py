"""Many captions -> normalised embeddings: each unique caption once, in batches, cache first."""

from __future__ import annotations

from typing import Any, Sequence

import numpy as np
from tqdm.auto import tqdm

from eqvl.data.images import text_content_key
from eqvl.encode.types import EncodeConfig, Encoded, EncodeStats, as_rows, stack_rows


def encode_texts(encoder: Any, texts: Sequence[str], cfg: EncodeConfig) -> Encoded:
    """Embed each caption once (cache first), in batches."""
    stats = EncodeStats(unique=len(texts))
    rows: dict[int, np.ndarray] = {}
    keys = [text_content_key(t) for t in texts] if cfg.cache is not None else [None] * len(texts)
    if cfg.cache is not None:
        hits = cfg.cache.lookup("text", keys)
        rows = {i: hits[k] for i, k in enumerate(keys) if k in hits}
        stats.cached = len(rows)
    todo = [i for i in range(len(texts)) if i not in rows]
    bar = tqdm(total=len(todo), desc="encoding texts", unit="txt", disable=not cfg.progress or not todo)
    try:
        for start in range(0, len(todo), cfg.batch_size):
            chunk = todo[start : start + cfg.batch_size]
            emb = as_rows(encoder.encode_texts([texts[i] for i in chunk]), len(chunk), "encode_texts")
            rows.update(zip(chunk, emb))
            stats.encoded += len(chunk)
            if cfg.cache is not None:
                cfg.cache.add("text", [keys[i] for i in chunk], emb)
            bar.update(len(chunk))
    finally:
        bar.close()
        if cfg.cache is not None:
            cfg.cache.flush("text")
    return Encoded(stack_rows(rows, len(texts)), {}, stats)
