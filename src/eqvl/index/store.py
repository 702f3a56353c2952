"""The index folder on disk: generations, one atomic pointer, and a writer lock.

    idx/
      CURRENT              name of the live generation ("gen-000003"), replaced atomically
      gen-000003/          manifest.json, meta.sqlite, index.faiss, deleted.npy — never modified once live
      vectors/             float16 embedding shards (vec-*.npy + ids-*.npy), immutable, shared by generations
      embed-cache/         resumable embedding of a build/add in progress (removed after a commit)
      .eqvl.lock           the one writer's lock (eqvl.io.guard.OutputLock: pid, start, command)

A writer prepares the next generation in a `.tmp-<pid>` folder, renames it into place and then
replaces CURRENT (one `os.replace`): a `kill -9` at any moment leaves either the old or the new
generation live, never a mix. Leftovers of a killed writer are removed by the next writer.

Reader leases: a reader holds a shared `flock` on its generation's folder (`open_generation`)
for as long as it has the generation open; garbage collection deletes an old generation only
when it can take that lock exclusively, and keeps every vector shard a kept generation names.
So a writer never deletes files a reader is opening or holding; a leased old generation (and
the shards only it references) goes at the next write, or when its last reader closes it
(`release`). The kernel drops the lock of a reader that dies, even by SIGKILL.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import shutil
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Iterator

import numpy as np

from eqvl.errors import EqvlError

if TYPE_CHECKING:
    import numpy as np
from eqvl.io import atomic_open, read_json, write_json_atomic

POINTER = "CURRENT"
MANIFEST = "manifest.json"
META = "meta.sqlite"
FAISS_FILE = "index.faiss"
DELETED = "deleted.npy"
VECTORS = "vectors"
EMBED_CACHE = "embed-cache"
LOCK = ".eqvl.lock"
FORMAT = "eqvl-index/1"
#: how often a reader retries when a writer switches the generation while it opens one
OPEN_TRIES = 20

log = logging.getLogger(__name__)


class IndexLocked(EqvlError):
    """Another process holds the writer lock."""


def is_index(root: str | os.PathLike) -> bool:
    return (Path(root) / POINTER).is_file()


def pointer_name(root: str | os.PathLike) -> str:
    """The generation name CURRENT holds now (a small read: `serve` calls it on every request)."""
    root = Path(root)
    if not root.is_dir():
        raise EqvlError(f"{root}: no such index folder")
    try:
        return (root / POINTER).read_text(encoding="utf-8").strip()
    except FileNotFoundError:
        raise EqvlError(f"{root} is not an eqvl index (no {POINTER} file; build one with `eqvl index build`)") from None
    except (OSError, UnicodeDecodeError) as exc:
        raise EqvlError(f"{root / POINTER}: unreadable ({exc})") from None


def current_generation(root: str | os.PathLike) -> Path:
    """Folder of the live generation; a clear error when `root` is not an eqvl index."""
    root = Path(root)
    name = pointer_name(root)
    gen = root / name
    if not name.startswith("gen-") or "/" in name or not (gen / MANIFEST).is_file():
        raise EqvlError(f"{root}: {POINTER} names {name!r}, which is not a complete generation (corrupt index)")
    return gen


def read_manifest(gen: Path) -> dict[str, Any]:
    manifest = read_json(gen / MANIFEST)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise EqvlError(f"{gen / MANIFEST}: not an eqvl index manifest (format {FORMAT} expected)")
    return manifest


def load_deleted(gen: Path) -> np.ndarray:
    """The masked (removed, not yet purged) ids of a generation, checked."""
    path = gen / DELETED
    try:
        ids = np.load(path, allow_pickle=False)
    except (OSError, ValueError, EOFError) as exc:
        raise EqvlError(f"{path}: not a readable id list ({str(exc).splitlines()[0][:120]}) (corrupt index)") from None
    if ids.ndim != 1 or ids.dtype.kind not in "iu":
        raise EqvlError(f"{path}: expected a 1-d integer array, found {ids.dtype} {ids.shape} (corrupt index)")
    return ids.astype(np.int64)


def next_generation_name(root: Path) -> str:
    numbers = [int(p.name[4:]) for p in root.glob("gen-*") if p.name[4:].isdigit()]
    return f"gen-{max(numbers, default=0) + 1:06d}"


def staging_dir(root: Path) -> Path:
    """A fresh private folder for the next generation (a killed writer's one is removed first)."""
    path = root / f".tmp-{os.getpid()}"
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def commit(root: Path, staged: Path, manifest: dict[str, Any], before_switch: Callable[[], None] = lambda: None) -> Path:
    """Make `staged` the live generation: manifest, fsync, rename, switch CURRENT, drop the old ones."""
    manifest = {"format": FORMAT, **manifest}
    write_json_atomic(staged / MANIFEST, manifest)
    for child in staged.iterdir():
        _fsync_path(child)
    _fsync_path(staged)
    name = next_generation_name(root)
    final = root / name
    os.rename(staged, final)
    _fsync_path(root)
    before_switch()
    with atomic_open(root / POINTER, "w", encoding="utf-8") as handle:
        handle.write(name + "\n")
    _fsync_path(root)
    collect_garbage(root)
    return final


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def referenced_shards(gen: Path) -> set[str]:
    return set(read_manifest(gen).get("shards", []))


class Lease:
    """A reader's shared lock on one generation folder: garbage collection leaves it alone."""

    def __init__(self, gen: Path, fd: int):
        self.gen, self._fd = gen, fd

    def release(self) -> None:
        if self._fd >= 0:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = -1

    def __del__(self) -> None:  # an Index dropped without close() must not pin its generation
        try:
            self.release()
        except Exception:  # noqa: BLE001 - interpreter shutdown: the process exit drops the lock anyway
            pass


def open_generation(root: str | os.PathLike) -> Lease:
    """Lease the live generation: retried when a writer switches CURRENT (and removes the old
    generation) between reading the pointer and taking the lease."""
    root = Path(root)
    for attempt in range(OPEN_TRIES):
        gen = current_generation(root)
        try:
            fd = os.open(gen, os.O_RDONLY | os.O_DIRECTORY)
        except FileNotFoundError:
            time.sleep(0.001 * attempt)
            continue
        fcntl.flock(fd, fcntl.LOCK_SH)  # waits while a collector that took it first finishes deleting
        if (gen / MANIFEST).is_file():
            return Lease(gen, fd)
        os.close(fd)
    raise EqvlError(f"{root}: the live generation changed {OPEN_TRIES} times while opening it; try again")


def _try_delete_generation(path: Path) -> bool:
    """Delete an old generation unless a reader leases it (True when gone)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    except FileNotFoundError:
        return True
    except OSError:
        shutil.rmtree(path, ignore_errors=True)
        return True
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return False
    try:
        shutil.rmtree(path, ignore_errors=True)
    finally:
        os.close(fd)
    return True


def collect_garbage(root: Path) -> None:
    """Under the writer lock: remove staging folders, old generations no reader leases, and the
    vector shards no remaining generation references."""
    live = current_generation(root) if is_index(root) else None
    kept = [live] if live else []
    for path in sorted(root.iterdir()):
        if path.name.startswith(".tmp-"):
            shutil.rmtree(path, ignore_errors=True)
        elif path.name.startswith("gen-") and path != live and not _try_delete_generation(path):
            kept.append(path)
    keep: set[str] = set()
    for gen in kept:
        with contextlib.suppress(EqvlError, OSError):
            keep |= referenced_shards(gen)
    vec_dir = root / VECTORS
    if vec_dir.is_dir():
        for path in vec_dir.iterdir():
            stem = path.name.split("-", 1)[-1].rsplit(".", 1)[0]
            if stem not in keep:
                path.unlink(missing_ok=True)


def release(root: Path, lease: Lease) -> None:
    """Drop a reader's lease; the last reader of a replaced generation removes it (and the shards
    only it referenced), so a purge completes once no reader holds the past."""
    lease.release()
    try:
        collect_replaced(root)
    except (EqvlError, OSError) as exc:
        log.debug("replaced generations left for the next writer (%s)", exc)


def _number(name: str) -> int:
    return int(name[4:]) if name.startswith("gen-") and name[4:].isdigit() else -1


def collect_replaced(root: Path) -> None:
    """Without the writer lock (a reader closing): remove generations OLDER than the live one that
    no reader leases, then the shards only they referenced. A writer's next generation is always
    newer than the live one and reuses only the live one's shards, so nothing it needs goes."""
    live = _number(pointer_name(root))
    dropped: set[str] = set()
    for path in root.glob("gen-*"):
        if 0 <= _number(path.name) < live:
            refs: set[str] = set()
            with contextlib.suppress(EqvlError, OSError):
                refs = referenced_shards(path)
            if _try_delete_generation(path):
                dropped |= refs
    if not dropped:
        return
    remaining: set[str] = set()
    for gen in root.glob("gen-*"):
        with contextlib.suppress(EqvlError, OSError):
            remaining |= referenced_shards(gen)
    for stem in dropped - remaining:
        for prefix in ("vec-", "ids-"):
            (root / VECTORS / f"{prefix}{stem}.npy").unlink(missing_ok=True)


def check_unlocked(root: str | os.PathLike) -> None:
    """Fail now (before a model is loaded) when another writer holds the index."""
    with writer_lock(root):
        pass


@contextlib.contextmanager
def writer_lock(root: str | os.PathLike, wait: float = 0.0) -> Iterator[None]:
    """One writer at a time: eqvl's `OutputLock` on the folder (an flock the kernel drops when the
    holder dies, even by SIGKILL, so a dead writer's lock file is taken over, not obeyed).
    `wait`: seconds to keep trying while another writer holds it (0: refuse at once)."""
    from eqvl.io import OutputLock, OutputLockedError

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    deadline = time.monotonic() + wait
    while True:
        try:
            lock = OutputLock(root).__enter__()
            break
        except OutputLockedError as exc:
            if time.monotonic() >= deadline:
                hint = f" (waited {wait:.0f} s)" if wait else " (pass `wait` SECONDS to wait for it)"
                raise IndexLocked(f"index {exc}{hint}", params=("wait",)) from None
            time.sleep(min(0.2, max(0.0, deadline - time.monotonic())))
    try:
        yield
    finally:
        lock.release()
