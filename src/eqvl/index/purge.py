"""Remove means removed: rewrite the vector shards and the FAISS index without the removed ids.

Shards are immutable and shared between generations, so a shard holding a removed id is not
edited: a new shard with the kept rows replaces it in the next generation's manifest, and the
old file is deleted with the old generation (at once, unless a reader still leases that
generation: then when the last such reader closes it, or at the next write). The FAISS index
drops the ids with `remove_ids` (Flat, IVF) or is rebuilt from the kept vectors (HNSW and the
other types FAISS cannot remove from). Rows that were never indexed (id -1) are dropped too.
Also checked here, before any image is embedded: an index type that cannot be trained on
that few vectors.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from eqvl.errors import EqvlError
from eqvl.index.vectors import load_vectors, new_stem, write_ids, write_vectors

log = logging.getLogger(__name__)


def purge_shards(vec_dir: Path, shards: Sequence[str], removed: np.ndarray) -> list[str]:
    """The shard list with every shard holding a removed (or unindexed) row rewritten without it."""
    out = []
    for stem in shards:
        try:
            ids = np.load(vec_dir / f"ids-{stem}.npy", allow_pickle=False)
        except (OSError, ValueError) as exc:
            raise EqvlError(f"{vec_dir}: vector shard {stem} is missing or unreadable ({exc})") from None
        drop = np.isin(ids, removed) | (ids < 0)
        if not drop.any():
            out.append(stem)
            continue
        keep = np.nonzero(~drop)[0]
        if len(keep):
            fresh = new_stem()
            write_vectors(vec_dir, fresh, np.asarray(load_vectors(vec_dir, stem)[keep]))
            write_ids(vec_dir, fresh, ids[keep])
            out.append(fresh)
    return out


def purge_faiss(index: Any, removed: np.ndarray, rebuild: Callable[[], Any]) -> Any:
    """`index` without `removed` ids: removed in place where FAISS can, else `rebuild()`."""
    if len(removed) == 0:
        return index
    import faiss

    try:
        index.remove_ids(faiss.IDSelectorBatch(np.ascontiguousarray(removed, dtype=np.int64)))
        return index
    except RuntimeError as exc:
        log.info("FAISS cannot remove from this index type (%s); rebuilding it without the removed ids",
                 str(exc).strip().splitlines()[-1][:80] if str(exc).strip() else "")
        return rebuild()


_IVF = re.compile(r"IVF(\d+)")
_PQ = re.compile(r"PQ(\d+)(?:x(\d+))?")


def check_trainable(factory: str, n: int) -> None:
    """Refuse an index that FAISS cannot train on `n` vectors (checked before embedding anything)."""
    ivf = _IVF.search(factory)
    if ivf and n < int(ivf.group(1)):
        raise EqvlError(f"`index` {factory}: {ivf.group(1)} inverted lists need at least {ivf.group(1)} vectors to "
                        f"train, and there are at most {n}; use fewer lists (e.g. IVF{max(1, n // 39)}) or `index` auto", params=("index",))
    pq = _PQ.search(factory.replace(ivf.group(0), "") if ivf else factory)
    if pq and "SQ" not in pq.group(0):
        codes = 2 ** int(pq.group(2) or 8)
        if n < codes:
            raise EqvlError(f"`index` {factory}: product quantisation with {codes} codes needs at least {codes} "
                            f"vectors to train, and there are at most {n}; use PQ{pq.group(1)}x"
                            f"{max(1, int(np.log2(max(n, 2))))} or `index` auto", params=("index",))
