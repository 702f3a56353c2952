"""One rank's share of `index build` / `index add`: hash, skip what is known, embed, write a shard.

Each rank (one under plain `eqvl`, N under torchrun) takes `shard_range` of the listed items,
hashes their bytes, drops the ones whose content is already indexed or repeated earlier in its
slice, embeds the rest through the shared encoding layer (batches, decode workers, and the
embedding cache that makes an interrupted run resumable), and writes its own float16 vector
shard plus a small JSON note. Rank 0 later turns the notes into ids (`writer.py`).
"""

from __future__ import annotations

import json
import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from eqvl.data.images import image_content_key
from eqvl.data.records import ImageRef
from eqvl.encode import EncodeConfig, encode_images, shard_range
from eqvl.errors import DataError
from eqvl.index import vectors as vec
from eqvl.index.sources import Item
from eqvl.io import atomic_open, read_json

if TYPE_CHECKING:
    from eqvl.models.base import Encoder

log = logging.getLogger(__name__)


@dataclass
class EmbedOptions:
    batch_size: int = 64
    workers: int = 0
    skip_bad: bool = False
    progress: bool = True
    cache: Any = None  # an EmbeddingCache (resumable runs) or None


def hash_items(items: Sequence[Item], threads: int = 4) -> tuple[list[str | None], dict[int, str]]:
    """Content hash of every item's file (threads: hashing releases the GIL); unreadable ones reported."""
    hashes: list[str | None] = [None] * len(items)
    bad: dict[int, str] = {}

    def one(i: int) -> None:
        try:
            hashes[i] = image_content_key(ImageRef(items[i].path))
        except DataError as exc:
            bad[i] = str(exc)

    with ThreadPoolExecutor(max_workers=max(1, threads)) as pool:
        list(pool.map(one, range(len(items))))
    return hashes, bad


def _bad_error(item: Item, msg: str) -> DataError:
    return DataError(f"{msg} (listed at {item.where}; pass `skip_bad` to skip such images)", params=("skip_bad",))


def embed_rank(encoder: Encoder, items: Sequence[Item], known: Callable[[list[str]], set[str]], opts: EmbedOptions,
               staging: Path, vec_dir: Path, rank: int = 0, world: int = 1) -> Path:
    """Embed this rank's slice; returns the path of its note (vector shard stem, hashes, rows, bad).
    `known(hashes)` says which contents the index already holds (they are skipped, not embedded)."""
    part = shard_range(len(items), rank, world)
    mine = [items[i] for i in part]
    hashes, bad = hash_items(mine, threads=max(2, opts.workers))
    for j in sorted(bad):
        if not opts.skip_bad:
            raise _bad_error(mine[j], bad[j])
    indexed = known([h for h in hashes if h is not None])
    seen: set[str] = set()
    todo: list[int] = []
    n_known = n_dup = 0
    for j, h in enumerate(hashes):
        if h is None:
            continue
        if h in indexed:
            n_known += 1
        elif h in seen:
            n_dup += 1
        else:
            seen.add(h)
            todo.append(j)

    def on_bad(t: int, msg: str) -> None:
        if not opts.skip_bad:
            raise _bad_error(mine[todo[t]], msg)

    cfg = EncodeConfig(batch_size=opts.batch_size, workers=opts.workers, cache=opts.cache, skip_bad=opts.skip_bad,
                       progress=opts.progress and rank == 0)
    encoded = encode_images(encoder, [ImageRef(mine[j].path) for j in todo], cfg, on_bad=on_bad)
    for t, msg in encoded.bad.items():
        bad[todo[t]] = msg
    rows = [t for t in range(len(todo)) if t not in encoded.bad]
    stem = vec.new_stem()
    dim = encoded.emb.shape[1] if encoded.emb.ndim == 2 else 0
    vec.write_vectors(vec_dir, stem, encoded.emb[rows] if rows else np.zeros((0, dim), np.float32))
    note = {
        "rank": rank, "world": world, "start": part.start, "stem": stem, "dim": int(dim),
        "hashes": hashes, "rows": [part.start + todo[t] for t in rows],
        "bad": {str(part.start + j): msg for j, msg in sorted(bad.items())}, "known": n_known, "duplicates": n_dup,
    }
    path = staging / f"rank-{rank:05d}-of-{world:05d}.json"
    with atomic_open(path, "w", encoding="utf-8") as handle:
        json.dump(note, handle)
    return path


def read_notes(staging: Path, world: int) -> list[dict[str, Any]]:
    notes = [read_json(staging / f"rank-{r:05d}-of-{world:05d}.json") for r in range(world)]
    return sorted(notes, key=lambda n: n["start"])
