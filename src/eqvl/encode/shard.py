"""torchrun sharding for bulk encoding (`eqvl index build`): each rank embeds one contiguous
slice of the inputs; rank, world and the slices come from `eqvl.distributed`."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Sequence

from eqvl.data.records import ImageRef
from eqvl.distributed import rank_and_world, shard_range
from eqvl.encode.images import encode_images
from eqvl.encode.texts import encode_texts
from eqvl.encode.types import EncodeConfig, Encoded

if TYPE_CHECKING:
    from eqvl.models.base import Encoder


@dataclass
class Shard:
    """This rank's part of a bulk encoding: `rows` are the input positions `emb` belongs to."""

    rows: range
    encoded: Encoded


def encode_image_shard(encoder: Encoder, refs: Sequence[ImageRef], cfg: EncodeConfig,
                       rank: int | None = None, world: int | None = None) -> Shard:
    """Embed this rank's contiguous slice of `refs` (rank/world default to torchrun's)."""
    rows = _rows(len(refs), rank, world)
    return Shard(rows, encode_images(encoder, [refs[i] for i in rows], cfg))


def encode_text_shard(encoder: Encoder, texts: Sequence[str], cfg: EncodeConfig,
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
