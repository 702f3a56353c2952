"""On-disk embedding cache: re-runs and interrupted runs skip work already done.

Layout: `<cache_dir>/<hash of encoder identity>/<kind>-<uuid>.npz`, each shard holding
`keys` (content hashes) and `values` (float32 rows). The directory name changes with
model name, weights hash and preprocessing, so two models never read each other's rows.

The cache is optional and never on the critical path: shards are handed to the process's
one background writer thread (a bounded queue, so memory stays small) and written
atomically while encoding goes on. Nobody waits for them but a reader of the same folder
and kind (`lookup`, `has`), `close()`, and the interpreter's exit.
A shard that cannot be read is a warning and its rows are simply encoded again; a
write that fails (a full disk) is a warning, never the run's failure.
"""

from __future__ import annotations

import atexit
import hashlib
import json
import logging
import os
import queue
import threading
import uuid
from pathlib import Path

import numpy as np

from eqvl.io import pid_alive

log = logging.getLogger(__name__)

#: rows per shard: small enough that an interruption loses little, large enough to keep file counts sane
SHARD_ROWS = 4096
#: shards waiting for the writer; encoding blocks (never drops rows) when this many are queued
QUEUE_SHARDS = 4
#: {kind: row width} of an identity folder, so a shard of another width is recognised even when alone
WIDTHS = "widths.json"


def default_cache_dir() -> Path:
    """$EQVL_CACHE_DIR, else $XDG_CACHE_HOME/eqvl/embeddings, else ~/.cache/eqvl/embeddings."""
    if os.environ.get("EQVL_CACHE_DIR"):
        return Path(os.environ["EQVL_CACHE_DIR"])
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "eqvl" / "embeddings"


def write_shard(path: Path, keys: list[str], values: np.ndarray) -> None:
    """Write one shard atomically; the temporary name carries our pid so a later run can tell
    a killed writer's leftovers (dead pid) from a live writer's file."""
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            np.savez(handle, keys=np.asarray(keys, dtype=str), values=values)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


class _Writer:
    """The process's one cache-writer thread: shards are written in order while encoding goes on.

    It counts the shards still queued per (folder, kind), so a reader waits only for the writes
    it could read (`wait(folder, kind)`), never for unrelated ones. A folder whose write failed
    (full disk, read-only) gets one warning and no further writes until a cache opens it again.
    """

    def __init__(self, maxsize: int):
        self._queue: queue.Queue = queue.Queue(maxsize=maxsize)
        self._thread: threading.Thread | None = None
        self._changed = threading.Condition()
        self._pending: dict[tuple[Path, str], int] = {}
        self.failed: dict[Path, str] = {}

    def submit(self, path: Path, kind: str, keys: list[str], values: np.ndarray) -> None:
        if path.parent in self.failed:
            return  # the disk refused once: stop trying, the run goes on
        with self._changed:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="eqvl-cache-writer", daemon=True)
                self._thread.start()
            self._pending[(path.parent, kind)] = self._pending.get((path.parent, kind), 0) + 1
        self._queue.put((path, kind, keys, values))  # blocks while QUEUE_SHARDS are waiting: memory stays bounded

    def wait(self, folder: Path | None = None, kind: str | None = None) -> None:
        """Until every queued shard (of `folder` / `kind` when given) is on disk or has failed."""
        def done() -> bool:
            return not any(n for (f, k), n in self._pending.items()
                           if (folder is None or f == folder) and (kind is None or k == kind))

        with self._changed:
            self._changed.wait_for(done)

    def _run(self) -> None:
        while True:
            path, kind, keys, values = self._queue.get()
            try:
                if path.parent not in self.failed:
                    write_shard(path, keys, values)
            except Exception as exc:  # noqa: BLE001 - any failure of an optional cache is a warning
                self.failed[path.parent] = str(exc)
                log.warning("embedding cache: cannot write %s (%s); this run goes on without caching", path, exc)
            finally:
                with self._changed:
                    self._pending[(path.parent, kind)] -= 1
                    self._changed.notify_all()


_WRITER = _Writer(QUEUE_SHARDS)
atexit.register(_WRITER.wait)  # a normal exit (or an exception reaching the top) keeps the last shards


def wait_for_writes(folder: str | Path | None = None) -> None:
    """Until this process's queued cache shards (under `folder`'s identity folders, or all) are written."""
    if folder is None:
        _WRITER.wait()
        return
    root = Path(folder)
    for sub in [root, *(root.iterdir() if root.is_dir() else [])]:
        _WRITER.wait(sub)


class EmbeddingCache:
    """Content-keyed rows (image/text embeddings, pair scores) for one encoder identity."""

    def __init__(self, root: str | Path, identity: str, shard_rows: int | None = None):
        self.identity = identity
        self.dir = Path(root) / hashlib.blake2b(identity.encode(), digest_size=12).hexdigest()
        self.dir.mkdir(parents=True, exist_ok=True)
        ident_file = self.dir / "identity.json"
        if not ident_file.exists():
            _write_text(ident_file, identity + "\n")
        self.shard_rows = shard_rows or SHARD_ROWS
        self._pending: dict[str, tuple[list[str], list[np.ndarray]]] = {}
        self._widths: dict[str, int] = {}  # row width per kind, from rows this process encoded
        self._saved_widths = _read_widths(self.dir / WIDTHS)  # ... and as the runs that wrote the shards recorded
        _WRITER.failed.pop(self.dir, None)  # a new run tries writing again (the disk may have room now)
        remove_stale_temporaries(self.dir)

    def has(self, kind: str) -> bool:
        """Whether any shard of `kind` exists (a fresh cache can skip the up-front hashing pass)."""
        _WRITER.wait(self.dir, kind)  # shards this process is still writing count
        return any(self.dir.glob(f"{kind}-*.npz"))

    def lookup(self, kind: str, keys: list[str]) -> dict[str, np.ndarray]:
        """Rows already cached for any of `keys` (missing keys are simply absent).

        A shard that is unreadable, or readable but malformed (keys and values of different lengths,
        rows of another width than this cache's), is dropped and its rows encoded again; rows holding
        NaN / inf are cut out of their shard and encoded again. Each is a warning naming the shard."""
        _WRITER.wait(self.dir, kind)
        wanted = set(keys)
        found: dict[str, np.ndarray] = {}
        shards = []
        for shard in sorted(self.dir.glob(f"{kind}-*.npz")):
            try:
                shards.append((shard, *_read_shard(shard)))
            except Exception as exc:  # noqa: BLE001 - zero-byte, truncated, foreign, malformed: any bad shard
                _drop_unreadable(shard, exc)
        width = self._width(kind, [(len(v), v.shape[1]) for _, _, v in shards])
        for shard, shard_keys, values in shards:
            if values.shape[1] != width:
                _drop_unreadable(shard, ValueError(f"rows are {values.shape[1]} wide, this cache's are {width}"))
                continue
            finite = np.isfinite(values).all(axis=1)
            if not finite.all():
                shard_keys, values = _cut_nonfinite(shard, shard_keys, values, finite)
            for row, key in enumerate(shard_keys):
                if key in wanted and key not in found:
                    found[key] = values[row]
        return found

    def _width(self, kind: str, sizes: list[tuple[int, int]]) -> int | None:
        """The row width of `kind` here: what this process wrote, else the width most cached rows have."""
        known = self._widths.get(kind) or self._saved_widths.get(kind)
        if known:
            return known
        votes: dict[int, int] = {}
        for rows, width in sizes:
            votes[width] = votes.get(width, 0) + rows
        return max(votes, key=lambda w: (votes[w], w)) if votes else None

    def add(self, kind: str, keys: list[str], values: np.ndarray) -> None:
        """Queue rows; a full shard goes to the background writer at once."""
        pending_keys, pending_values = self._pending.setdefault(kind, ([], []))
        pending_keys.extend(keys)
        rows = np.asarray(values, dtype=np.float32)
        pending_values.append(rows)
        if rows.ndim == 2 and kind not in self._widths:
            self._widths[kind] = rows.shape[1]
            if self._saved_widths.get(kind) != rows.shape[1]:
                self._saved_widths[kind] = rows.shape[1]
                _write_text(self.dir / WIDTHS, json.dumps(self._saved_widths, sort_keys=True) + "\n")
        if len(pending_keys) >= self.shard_rows:
            self.flush(kind)

    def flush(self, kind: str | None = None) -> None:
        """Hand queued rows of `kind` (or of every kind) to the writer as one shard each (no waiting)."""
        for name in [kind] if kind else list(self._pending):
            keys, values = self._pending.pop(name, ([], []))
            if keys:
                path = self.dir / f"{name}-{uuid.uuid4().hex}.npz"
                _WRITER.submit(path, name, keys, np.concatenate(values, axis=0))

    def close(self) -> None:
        """Flush everything and wait until this cache's shards are on disk."""
        self.flush()
        _WRITER.wait(self.dir)

    def __enter__(self) -> "EmbeddingCache":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def open_cache(root: str | Path | None, identity: str) -> EmbeddingCache | None:
    """The cache for this encoder, or None (with a warning) when its folder cannot be made."""
    if root is None:
        return None
    try:
        return EmbeddingCache(root, identity)
    except OSError as exc:
        log.warning("embedding cache: cannot use %s (%s); this run goes on without caching", root, exc.strerror or exc)
        return None


def _read_widths(path: Path) -> dict[str, int]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, int)} if isinstance(data, dict) else {}


def _read_shard(shard: Path) -> tuple[list[str], np.ndarray]:
    """(keys, [n, d] float rows) of one shard; ValueError when it is readable but not a shard."""
    with np.load(shard, allow_pickle=False) as data:
        keys, values = data["keys"], data["values"]
    if keys.ndim != 1 or values.ndim != 2 or not np.issubdtype(values.dtype, np.floating):
        raise ValueError(f"keys {keys.shape} / values {values.shape} {values.dtype}: not [n] keys and [n, d] float rows")
    if len(keys) != len(values):
        raise ValueError(f"{len(keys)} keys for {len(values)} rows")
    return keys.tolist(), values


def _cut_nonfinite(shard: Path, keys: list[str], values: np.ndarray,
                   finite: np.ndarray) -> tuple[list[str], np.ndarray]:
    """Rewrite `shard` without its NaN / inf rows (they are encoded again, never scored)."""
    bad = int((~finite).sum())
    keys = [k for k, ok in zip(keys, finite) if ok]
    values = values[finite]
    try:
        if keys:
            write_shard(shard, keys, values)
        else:
            shard.unlink()
        done = "cut them out; they will be encoded again"
    except OSError as err:
        done = f"could not rewrite it ({err.strerror or err}); they will be encoded again"
    log.warning("embedding cache: shard %s holds %d row(s) with NaN or inf, a damaged cache, not the model's output; "
                "%s (`no_cache` bypasses the cache)", shard, bad, done, extra={"params": ("no_cache",)})
    return keys, values


def _drop_unreadable(shard: Path, exc: Exception) -> None:
    """Warn and delete the shard (published shards are complete, so it will not heal by itself);
    its rows are simply encoded again and land in a new shard."""
    reason = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    try:
        shard.unlink()
        done = "removed it; its rows will be encoded again"
    except OSError as err:
        done = f"could not remove it ({err.strerror or err}); its rows will be encoded again"
    log.warning("embedding cache: unreadable shard %s (%s); %s", shard, reason, done)


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as exc:
        tmp.unlink(missing_ok=True)
        log.warning("embedding cache: cannot write %s (%s)", path, exc)


def remove_stale_temporaries(folder: Path) -> None:
    """Delete temporary files left by killed writers (their pid is gone); live writers' files stay."""
    for tmp in folder.glob(".*.tmp"):
        pid = tmp.name.rsplit(".", 2)[-2]
        if pid.isdigit() and not pid_alive(int(pid)):
            tmp.unlink(missing_ok=True)
