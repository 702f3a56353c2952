"""The small value types of the encoding layer: settings, results and their bookkeeping."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import torch

from eqvl.errors import EqvlError
from eqvl.models.base import OnDevice, is_pair_scorer

if TYPE_CHECKING:
    from eqvl.models.base import Encoder, PairScorer

if TYPE_CHECKING:
    from eqvl.encode.cache import EmbeddingCache


@dataclass
class EncodeConfig:
    """How to encode: rows per encoder call, decode workers, the optional cache, bad-image policy."""

    batch_size: int = 64
    workers: int = 0
    cache: "EmbeddingCache | None" = None
    skip_bad: bool = False
    progress: bool = True


@dataclass
class EncodeStats:
    """How much work one kind of input took: unique count, cache hits, rows encoded."""

    unique: int = 0
    cached: int = 0
    encoded: int = 0
    failed: int = 0

    def as_dict(self) -> dict[str, int]:
        return {"unique": self.unique, "cached": self.cached, "encoded": self.encoded, "failed": self.failed}


@dataclass
class Encoded:
    """Embeddings of a list of inputs in input order; rows of failed inputs are NaN."""

    emb: np.ndarray
    bad: dict[int, str] = field(default_factory=dict)
    stats: EncodeStats = field(default_factory=EncodeStats)


def as_rows(out: torch.Tensor, n: int, what: str) -> np.ndarray:
    """An encoder's [n, D] output as float32 numpy; any other shape is the encoder's bug, named."""
    out = out.detach().float().cpu()
    if out.ndim != 2 or out.shape[0] != n:
        raise EqvlError(f"encoder.{what} returned shape {tuple(out.shape)} for {n} inputs; expected [{n}, D]")
    return out.numpy()


def stack_rows(rows: dict[int, np.ndarray], n: int) -> np.ndarray:
    """Rows by input index -> one [n, D] array; missing rows are NaN (never a silent zero)."""
    if not rows:
        return np.full((n, 0), np.nan, dtype=np.float32)
    dim = len(next(iter(rows.values())))
    out = np.full((n, dim), np.nan, dtype=np.float32)
    for i, row in rows.items():
        out[i] = row
    return out


def device_of(encoder: Encoder | PairScorer) -> torch.device | None:
    """Where the encoder computes (pins DataLoader memory for CUDA); None when it does not say."""
    return encoder.device if isinstance(encoder, OnDevice) else None


def check_embeds(encoder: Encoder | PairScorer) -> Encoder:
    """A pair scorer (hf-itm:, vqascore:) has no embeddings: one line saying where it does fit.
    Returns the model as the dual encoder it is."""
    if is_pair_scorer(encoder):
        raise EqvlError(f"{encoder.name} scores (image, caption) pairs jointly and has no embeddings to index or rank "
                        "by: use a dual encoder (open_clip, hf:) here and this model as the second stage "
                        "(`rerank_model`, or eval's `coarse_model` for retrieval)", params=("rerank_model", "coarse_model"))
    return encoder
