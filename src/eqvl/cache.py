"""On-disk embedding cache: re-runs and interrupted runs skip work already done.

Layout: `<cache_dir>/<hash of encoder identity>/<kind>-<uuid>.npz`, each shard holding
`keys` (content hashes) and `values` (float32 rows). Shards are written atomically as
encoding goes, so an interrupted run keeps every finished shard and never leaves a
half-written one. The directory name changes with model name, weights hash and
preprocessing, so two models can never read each other's embeddings.
"""

from __future__ import annotations

import hashlib
import logging
import os
import uuid
import zipfile
from pathlib import Path

import numpy as np

from eqvl.io import atomic_open

log = logging.getLogger(__name__)

#: rows per shard: small enough that an interruption loses little, large enough to keep file counts sane
SHARD_ROWS = 4096


def default_cache_dir() -> Path:
    """$EQVL_CACHE_DIR, else $XDG_CACHE_HOME/eqvl/embeddings, else ~/.cache/eqvl/embeddings."""
    if os.environ.get("EQVL_CACHE_DIR"):
        return Path(os.environ["EQVL_CACHE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "eqvl" / "embeddings"


class EmbeddingCache:
    """Content-keyed rows (image/text embeddings, pair scores) for one encoder identity."""

    def __init__(self, root: str | Path, identity: str, shard_rows: int = SHARD_ROWS):
        self.identity = identity
        self.dir = Path(root) / hashlib.blake2b(identity.encode(), digest_size=12).hexdigest()
        self.dir.mkdir(parents=True, exist_ok=True)
        ident_file = self.dir / "identity.json"
        if not ident_file.exists():
            with atomic_open(ident_file, "w", encoding="utf-8") as handle:
                handle.write(identity + "\n")
        self.shard_rows = shard_rows
        self._pending: dict[str, tuple[list[str], list[np.ndarray]]] = {}

    def has(self, kind: str) -> bool:
        """Whether any shard of `kind` exists (a fresh cache can skip the up-front hashing pass)."""
        return any(self.dir.glob(f"{kind}-*.npz"))

    def lookup(self, kind: str, keys: list[str]) -> dict[str, np.ndarray]:
        """Rows already cached for any of `keys` (missing keys are simply absent)."""
        wanted = set(keys)
        found: dict[str, np.ndarray] = {}
        for shard in sorted(self.dir.glob(f"{kind}-*.npz")):
            try:
                with np.load(shard, allow_pickle=False) as data:
                    shard_keys, values = data["keys"], data["values"]
            except (OSError, ValueError, KeyError, zipfile.BadZipFile) as exc:
                log.warning("ignoring unreadable cache shard %s: %s", shard, exc)
                continue
            for row, key in enumerate(shard_keys.tolist()):
                if key in wanted and key not in found:
                    found[key] = values[row]
        return found

    def add(self, kind: str, keys: list[str], values: np.ndarray) -> None:
        """Queue rows; a shard is written as soon as `shard_rows` are queued."""
        pending_keys, pending_values = self._pending.setdefault(kind, ([], []))
        pending_keys.extend(keys)
        pending_values.append(np.asarray(values, dtype=np.float32))
        if len(pending_keys) >= self.shard_rows:
            self.flush(kind)

    def flush(self, kind: str | None = None) -> None:
        """Write queued rows of `kind` (or of every kind) as one atomic shard each."""
        for name in [kind] if kind else list(self._pending):
            keys, values = self._pending.pop(name, ([], []))
            if not keys:
                continue
            path = self.dir / f"{name}-{uuid.uuid4().hex}.npz"
            with atomic_open(path, "wb") as handle:
                np.savez(handle, keys=np.asarray(keys, dtype=str), values=np.concatenate(values, axis=0))
