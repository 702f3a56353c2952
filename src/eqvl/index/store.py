"""The index folder on disk: generations, one atomic pointer, and a writer lock.

    idx/
      CURRENT              name of the live generation ("gen-000003"), replaced atomically
      gen-000003/          manifest.json, meta.sqlite, index.faiss, deleted.npy — never modified once live
      vectors/             float16 embedding shards (vec-*.npy + ids-*.npy), immutable, shared by generations
      embed-cache/         resumable embedding of a build/add in progress (removed after a commit)
      .eqvl.lock           the one writer's lock (eqvl.outputs.OutputLock: pid, start, command)

A writer prepares the next generation in a `.tmp-<pid>` folder, renames it into place and then
replaces CURRENT (one `os.replace`): a `kill -9` at any moment leaves either the old or the new
generation live, never a mix. Leftovers of a killed writer are removed by the next writer.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any, Callable, Iterator

from eqvl.errors import EqvlError
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


class IndexLocked(EqvlError):
    """Another process holds the writer lock."""


def is_index(root: str | os.PathLike) -> bool:
    return (Path(root) / POINTER).is_file()


def current_generation(root: str | os.PathLike) -> Path:
    """Folder of the live generation; a clear error when `root` is not an eqvl index."""
    root = Path(root)
    if not root.is_dir():
        raise EqvlError(f"{root}: no such index folder")
    pointer = root / POINTER
    if not pointer.is_file():
        raise EqvlError(f"{root} is not an eqvl index (no {POINTER} file; build one with `eqvl index build`)")
    name = pointer.read_text(encoding="utf-8").strip()
    gen = root / name
    if not name.startswith("gen-") or "/" in name or not (gen / MANIFEST).is_file():
        raise EqvlError(f"{root}: {POINTER} names {name!r}, which is not a complete generation (corrupt index)")
    return gen


def read_manifest(gen: Path) -> dict[str, Any]:
    manifest = read_json(gen / MANIFEST)
    if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
        raise EqvlError(f"{gen / MANIFEST}: not an eqvl index manifest (format {FORMAT} expected)")
    return manifest


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


def collect_garbage(root: Path) -> None:
    """Under the writer lock: remove old generations, staging folders and vector shards nobody references."""
    live = current_generation(root) if is_index(root) else None
    for path in root.iterdir():
        if path.name.startswith(".tmp-") or (path.name.startswith("gen-") and path != live):
            shutil.rmtree(path, ignore_errors=True)
    keep = referenced_shards(live) if live else set()
    vec_dir = root / VECTORS
    if vec_dir.is_dir():
        for path in vec_dir.iterdir():
            stem = path.name.split("-", 1)[-1].rsplit(".", 1)[0]
            if stem not in keep:
                path.unlink(missing_ok=True)


@contextlib.contextmanager
def writer_lock(root: str | os.PathLike) -> Iterator[None]:
    """One writer at a time: eqvl's `OutputLock` on the folder (an flock the kernel drops when the
    holder dies, even by SIGKILL, so a dead writer's lock file is taken over, not obeyed)."""
    from eqvl.outputs import OutputLock, OutputLockedError

    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    try:
        lock = OutputLock(root).__enter__()
    except OutputLockedError as exc:
        raise IndexLocked(f"index {exc}") from None
    try:
        yield
    finally:
        lock.release()
