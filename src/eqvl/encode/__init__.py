"""The one place that turns many images / texts into normalised embeddings.

Used by evaluation (benchmark scoring) and by `eqvl index build`. Unique items are
encoded once, in batches, with DataLoader decode workers and the content-keyed
embedding cache (written by a background thread, off the critical path);
`shard_range` / `encode_image_shard` split work across torchrun ranks. Pair scorers
(ITM heads) get exactly the unique (image, caption) pairs asked for (`score_pairs`).
"""

from __future__ import annotations

from eqvl.encode.both import encode_images_and_texts
from eqvl.encode.cache import EmbeddingCache, default_cache_dir, open_cache, wait_for_writes
from eqvl.encode.images import content_keys, encode_images
from eqvl.encode.pairs import PairScores, score_pairs
from eqvl.encode.shard import Shard, encode_image_shard, encode_text_shard, rank_and_world, shard_range
from eqvl.encode.texts import encode_texts
from eqvl.encode.types import EncodeConfig, Encoded, EncodeStats

__all__ = [
    "EmbeddingCache", "EncodeConfig", "EncodeStats", "Encoded", "PairScores", "Shard", "content_keys",
    "default_cache_dir", "encode_image_shard",
    "open_cache", "encode_images", "encode_images_and_texts", "encode_text_shard", "encode_texts",
    "rank_and_world", "score_pairs", "shard_range", "wait_for_writes",
]
