"""The stored embeddings: float16 `.npy` shards, memory-mapped, looked up by stable id.

A shard is two files in `idx/vectors/`: `vec-<stem>.npy` (rows, float16) and `ids-<stem>.npy`
(int64, one id per row; -1 marks a row that is not indexed: a duplicate or an unreadable image).
Shards are written once and never changed, so generations share them; under torchrun each
rank writes its own `vec-` file and rank 0 adds the `ids-` file once ids are assigned.
They are the exact vectors the approximate index is re-scored from, and the source a
rebuild (another index type, compaction) reads from.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np

from eqvl.errors import EqvlError
from eqvl.io import atomic_open

DTYPE = np.float16


def new_stem() -> str:
    return uuid.uuid4().hex


def write_vectors(vec_dir: Path, stem: str, vectors: np.ndarray) -> None:
    vec_dir.mkdir(parents=True, exist_ok=True)
    with atomic_open(vec_dir / f"vec-{stem}.npy", "wb") as handle:
        np.save(handle, np.ascontiguousarray(vectors, dtype=DTYPE))


def write_ids(vec_dir: Path, stem: str, ids: np.ndarray) -> None:
    with atomic_open(vec_dir / f"ids-{stem}.npy", "wb") as handle:
        np.save(handle, np.asarray(ids, dtype=np.int64))


def load_vectors(vec_dir: Path, stem: str) -> np.ndarray:
    return np.load(vec_dir / f"vec-{stem}.npy", mmap_mode="r")


class VectorStore:
    """Id-addressed view over a generation's shards (memory-mapped; nothing is read until asked)."""

    def __init__(self, vec_dir: Path, stems: Sequence[str], dim: int):
        self.dim = dim
        self.mats: list[np.ndarray] = []
        all_ids, rows, shard_of = [], [], []
        for n, stem in enumerate(stems):
            try:
                mat = load_vectors(vec_dir, stem)
                ids = np.load(vec_dir / f"ids-{stem}.npy")
            except (OSError, ValueError) as exc:
                raise EqvlError(f"{vec_dir}: vector shard {stem} is missing or unreadable ({exc})") from None
            if mat.ndim != 2 or mat.shape[1] != dim or len(ids) != len(mat):
                raise EqvlError(f"{vec_dir}: vector shard {stem} has shape {mat.shape}, ids {len(ids)}; expected [*, {dim}]")
            keep = ids >= 0
            self.mats.append(mat)
            all_ids.append(ids[keep])
            rows.append(np.nonzero(keep)[0])
            shard_of.append(np.full(int(keep.sum()), n, dtype=np.int32))
        ids = np.concatenate(all_ids) if all_ids else np.zeros(0, np.int64)
        order = np.argsort(ids, kind="stable")
        self.ids = ids[order]
        self._rows = (np.concatenate(rows) if rows else np.zeros(0, np.int64))[order]
        self._shard = (np.concatenate(shard_of) if shard_of else np.zeros(0, np.int32))[order]
        if len(self.ids) and np.any(self.ids[1:] == self.ids[:-1]):
            raise EqvlError(f"{vec_dir}: an id appears in two vector shards (corrupt index)")

    def __len__(self) -> int:
        return len(self.ids)

    def stored_rows(self) -> int:
        """Rows held in the shard files (indexed or not): after a purge, the live count."""
        return sum(len(m) for m in self.mats)

    def nbytes(self) -> int:
        return sum(m.nbytes for m in self.mats)

    def positions(self, ids: np.ndarray) -> np.ndarray:
        """Positions of `ids` in the sorted id table; an unknown id is an error."""
        ids = np.asarray(ids, dtype=np.int64)
        pos = np.searchsorted(self.ids, ids)
        pos = np.minimum(pos, max(len(self.ids) - 1, 0))
        if len(ids) and (len(self.ids) == 0 or np.any(self.ids[pos] != ids)):
            missing = ids[(len(self.ids) == 0) | (self.ids[pos] != ids)] if len(self.ids) else ids
            raise EqvlError(f"id {int(missing[0])} has no stored vector (corrupt index)")
        return pos

    def get(self, ids: np.ndarray) -> np.ndarray:
        """float32 rows of `ids`, in the order given."""
        pos = self.positions(ids)
        out = np.empty((len(pos), self.dim), dtype=np.float32)
        shards, rows = self._shard[pos], self._rows[pos]
        for n in np.unique(shards):
            sel = np.nonzero(shards == n)[0]
            order = np.argsort(rows[sel])  # ascending rows read the memory map sequentially
            out[sel[order]] = self.mats[n][rows[sel][order]]
        return out

    def chunks(self, ids: np.ndarray | None = None, size: int = 65536) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """(ids, float32 rows) in blocks of `size`, over `ids` (default: every stored id)."""
        ids = self.ids if ids is None else np.asarray(ids, dtype=np.int64)
        for start in range(0, len(ids), size):
            part = ids[start : start + size]
            yield part, self.get(part)
