"""torchrun sharding for bulk encoding (`eqvl index build`): each rank embeds one contiguous
slice of the inputs; rank and world come from torchrun's environment."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any, Sequence

from eqvl.data.records import ImageRef
from eqvl.encode.images import encode_images
from eqvl.encode.texts import encode_texts
from eqvl.encode.types import EncodeConfig, Encoded


def shard_range(n: int, rank: int, world: int) -> range:
    """Contiguous, disjoint slice of `range(n)` owned by `rank` of `world` (sizes differ by at most one)."""
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"rank {rank} not in a world of {world}")
    base, extra = divmod(n, world)
    start = rank * base + min(rank, extra)
    return range(start, start + base + (1 if rank < extra else 0))


def rank_and_world() -> tuple[int, int]:
    """(RANK, WORLD_SIZE) as torchrun sets them; (0, 1) when run as a single process."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    rank = int(os.environ.get("RANK", "0"))
    shard_range(0, rank, world)  # validates
    return rank, world


@dataclass
class Shard:
    """This rank's part of a bulk encoding: `rows` are the input positions `emb` belongs to."""

    rows: range
    encoded: Encoded


def encode_image_shard(encoder: Any, refs: Sequence[ImageRef], cfg: EncodeConfig,
                       rank: int | None = None, world: int | None = None) -> Shard:
    """Embed this rank's contiguous slice of `refs` (rank/world default to torchrun's)."""
    rows = _rows(len(refs), rank, world)
    return Shard(rows, encode_images(encoder, [refs[i] for i in rows], cfg))


def encode_text_shard(encoder: Any, texts: Sequence[str], cfg: EncodeConfig,
                      rank: int | None = None, world: int | None = None) -> Shard:
    """Embed this rank's contiguous slice of `texts` (rank/world default to torchrun's)."""
    rows = _rows(len(texts), rank, world)
    return Shard(rows, encode_texts(encoder, [texts[i] for i in rows], cfg))


def _rows(n: int, rank: int | None, world: int | None) -> range:
    if rank is None or world is None:
        env_rank, env_world = rank_and_world()
        rank = env_rank if rank is None else rank
        world = env_world if world is None else world
    return shard_range(n, rank, world)
