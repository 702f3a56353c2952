"""Many captions -> normalised embeddings: each unique caption once, in batches, cache first."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Sequence

import numpy as np
from eqvl.progress import progress_bar

from eqvl.data.images import text_content_key
from eqvl.encode.types import EncodeConfig, Encoded, EncodeStats, as_rows, check_embeds, stack_rows

if TYPE_CHECKING:
    from eqvl.models.base import Encoder


class TextEncoding:
    """Captions embedded one batch per `step()`, so a caller can run them between image batches
    (the decode workers keep working meanwhile); `finish()` encodes the rest and returns them."""

    def __init__(self, encoder: Encoder, texts: Sequence[str], cfg: EncodeConfig):
        self.encoder, self.texts, self.cfg = encoder, list(texts), cfg
        self.stats = EncodeStats(unique=len(self.texts))
        self.rows: dict[int, np.ndarray] = {}
        # content keys only matter to the cache
        self.keys: list[str] = [text_content_key(t) for t in self.texts] if cfg.cache is not None else []
        if cfg.cache is not None:
            hits = cfg.cache.lookup("text", self.keys)
            self.rows = {i: hits[k] for i, k in enumerate(self.keys) if k in hits}
            self.stats.cached = len(self.rows)
        self.todo = [i for i in range(len(self.texts)) if i not in self.rows]
        self._next = 0
        self._bar = progress_bar(total=len(self.todo), desc="encoding texts", unit="txt", disable=not cfg.progress or not self.todo)

    def step(self) -> bool:
        """Encode the next batch; False once nothing is left."""
        chunk = self.todo[self._next : self._next + self.cfg.batch_size]
        if not chunk:
            return False
        self._next += len(chunk)
        emb = as_rows(self.encoder.encode_texts([self.texts[i] for i in chunk]), len(chunk), "encode_texts")
        self.rows.update(zip(chunk, emb))
        self.stats.encoded += len(chunk)
        if self.cfg.cache is not None:
            self.cfg.cache.add("text", [self.keys[i] for i in chunk], emb)
        self._bar.update(len(chunk))
        return True

    def finish(self) -> Encoded:
        try:
            while self.step():
                pass
        finally:
            self.close()
        return Encoded(stack_rows(self.rows, len(self.texts)), {}, self.stats)

    def close(self) -> None:
        """Close the progress bar and hand cached rows to the writer (also after a failure)."""
        self._bar.close()
        if self.cfg.cache is not None:
            self.cfg.cache.flush("text")


def encode_texts(encoder: Encoder, texts: Sequence[str], cfg: EncodeConfig) -> Encoded:
    """Embed each caption once (cache first), in batches."""
    check_embeds(encoder)
    return TextEncoding(encoder, texts, cfg).finish()
