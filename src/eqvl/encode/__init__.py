"""The one place that turns many images / texts into normalised embeddings.

Used by evaluation (benchmark scoring) and by `eqvl index build`. Unique items are
encoded once, in batches, with DataLoader decode workers and the content-keyed
embedding cache; `shard_range` splits work across torchrun ranks.
"""

from __future__ import annotations

from eqvl.cache import EmbeddingCache, default_cache_dir
from eqvl.scoring import EncodeStats, Encoded, EngineConfig, encode_images, encode_texts

#: the engine's settings under the name callers outside evaluation use
EncodeConfig = EngineConfig


def shard_range(n: int, rank: int, world: int) -> range:
    """Contiguous, disjoint slice of `range(n)` owned by `rank` of `world` (sizes differ by at most one)."""
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"rank {rank} not in a world of {world}")
    base, extra = divmod(n, world)
    start = rank * base + min(rank, extra)
    return range(start, start + base + (1 if rank < extra else 0))


__all__ = [
    "EmbeddingCache", "EncodeConfig", "EncodeStats", "Encoded", "default_cache_dir",
    "encode_images", "encode_texts", "shard_range",
]
