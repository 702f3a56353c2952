"""`build` / `add` / `remove` as transactions: prepare the next generation, then switch one pointer.

Nothing a reader sees is modified in place: the metadata is copied (SQLite backup API), new
vectors go to new shard files, the FAISS index is written anew (or hard-linked when unchanged),
and `store.commit` makes the result live with one `os.replace`. A killed writer leaves the old
generation live; its embeddings stay in `embed-cache/`, so re-running the command skips them.
Under torchrun every rank embeds its slice (`embedding.embed_rank`); rank 0 alone holds the
writer lock, assigns ids, builds the FAISS index and commits.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import re
import sqlite3
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from eqvl.errors import EqvlError
from eqvl.index import ann, store
from eqvl.index.embedding import EmbedOptions, embed_rank, read_notes
from eqvl.index.metadata import MetaStore
from eqvl.index.purge import check_trainable, purge_faiss, purge_shards
from eqvl.index.rows import plan_rows
from eqvl.index.sources import Item
from eqvl.index.vectors import VectorStore, new_stem, write_ids, write_vectors

if TYPE_CHECKING:
    from eqvl.models.base import Encoder

#: removed vectors are masked until they are this share of the FAISS index, then it is rebuilt without them
COMPACT_SHARE = 0.2
#: training sample for quantisers: FAISS uses at most 256 points per IVF centroid; 100k is plenty for PQ
TRAIN_MAX = 100_000
PAUSE_ENV = "EQVL_INDEX_PAUSE_AT"


@dataclass
class WriteReport:
    """What a write did (printed by the CLI, returned by the Python API)."""

    op: str
    count: int = 0
    added: int = 0
    already_indexed: int = 0
    duplicates: int = 0
    removed: int = 0
    copies: int = 0
    updated: int = 0
    bad: list[dict[str, str]] = field(default_factory=list)
    index: str = ""
    generation: str = ""
    seconds: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class RanksError(EqvlError):
    """An error every rank raised together (so only rank 0 needs to print it). Only its text crosses
    ranks, so the parameters it names are read back from the text's backticks."""

    def __init__(self, message: str) -> None:
        super().__init__(message, params=tuple(dict.fromkeys(re.findall(r"`([a-z][a-z0-9_]*)`", message))))


@dataclass
class Ranks:
    """This process's place under torchrun (rank 0 of 1 otherwise) and the collectives it needs."""

    rank: int = 0
    world: int = 1
    barrier: Callable[[], None] = lambda: None
    agree: Callable[[str], str] = lambda message: message  # rank 0's message (or "") reaches every rank
    first_error: Callable[[str], str] = lambda message: message  # the first rank's non-empty message, on every rank


def pause_point(stage: str) -> None:
    """Fault-injection hook for the crash tests: with EQVL_INDEX_PAUSE_AT=<stage>, stop here."""
    if os.environ.get(PAUSE_ENV) == stage:
        print(f"eqvl-index-paused-at: {stage}", file=sys.stderr, flush=True)
        time.sleep(3600)


def write_items(root: Path, encoder: Encoder, model: dict[str, str], items: Sequence[Item], opts: EmbedOptions,
                index_kind: Any, ranks: Ranks | None = None, update: bool = True,
                wait: float = 0.0) -> WriteReport | None:
    """`build` (index_kind given: an --index string or a tuning.IndexPlan; a fresh index) or `add`
    (index_kind None: onto the live generation).
    Returns the report on rank 0, None on the other ranks. A write refused after the embedding
    (nothing left to index, an untrainable index) leaves no files behind."""
    return _write(root, encoder, model, items, opts, index_kind, ranks or Ranks(), update, wait,
                  fresh=not store.is_index(root))


def _write(root: Path, encoder: Encoder, model: dict[str, str], items: Sequence[Item], opts: EmbedOptions,
           index_kind: Any, ranks: Ranks, update: bool, wait: float, fresh: bool) -> WriteReport | None:
    started = time.perf_counter()
    notes_dir = root / store.EMBED_CACHE / "notes"
    with contextlib.ExitStack() as stack:
        error = ""
        if ranks.rank == 0:
            try:
                stack.enter_context(store.writer_lock(root, wait))
                if store.is_index(root):
                    store.collect_garbage(root)
                shutil.rmtree(notes_dir, ignore_errors=True)
                notes_dir.mkdir(parents=True)
            except EqvlError as exc:
                error = str(exc)
        error = ranks.agree(error)
        if error:
            raise RanksError(error)
        base = None if index_kind is not None else store.current_generation(root)
        known = _known_hashes(base)
        error = ""
        try:
            embed_rank(encoder, items, known, opts, notes_dir, root / store.VECTORS, ranks.rank, ranks.world)
        except EqvlError as exc:
            error = str(exc)
        error = ranks.first_error(error)  # every rank stops with the same one-line error, none hangs
        if error:
            raise RanksError(error)
        if ranks.rank != 0:
            return None
        pause_point("embedded")
        try:
            report = _merge(root, base, model, items, read_notes(notes_dir, ranks.world), index_kind, update)
        except EqvlError:
            _discard(root, fresh)
            raise
        shutil.rmtree(root / store.EMBED_CACHE, ignore_errors=True)
    report.seconds = time.perf_counter() - started
    return report


def _discard(root: Path, fresh: bool) -> None:
    """Under the writer lock, after a refused write: drop its shards, staging and embedding cache."""
    shutil.rmtree(root / store.EMBED_CACHE, ignore_errors=True)
    if fresh:
        for name in (store.VECTORS,):
            shutil.rmtree(root / name, ignore_errors=True)
        for path in root.glob(".tmp-*"):
            shutil.rmtree(path, ignore_errors=True)
    else:
        store.collect_garbage(root)


def write_embedded(root: Path, model: dict[str, str], items: Sequence[Item],
                   make_notes: Callable[[Path], list[dict]], index_kind: Any, wait: float = 0.0) -> WriteReport:
    """`build` from embeddings made elsewhere (`index build --embeddings`): under the writer lock,
    `make_notes(vectors_dir)` writes the vector shards and returns one note per shard (embed_rank's format)."""
    started = time.perf_counter()
    fresh = not store.is_index(root)
    with store.writer_lock(root, wait):
        if not fresh:
            store.collect_garbage(root)
        try:
            notes = make_notes(root / store.VECTORS)
            pause_point("embedded")
            report = _merge(root, None, model, items, notes, index_kind)
        except EqvlError:
            _discard(root, fresh)
            raise
    report.seconds = time.perf_counter() - started
    return report


def _known_hashes(base: Path | None) -> Callable[[list[str]], set[str]]:
    if base is None:
        return lambda hashes: set()

    def known(hashes: list[str]) -> set[str]:
        meta = MetaStore.open_readonly(base / store.META)
        try:
            return set(meta.ids_by_hash(hashes))
        finally:
            meta.close()

    return known


def _merge(root: Path, base: Path | None, model: dict[str, str], items: Sequence[Item], notes: list[dict],
           index_kind: Any, update: bool = True) -> WriteReport:
    """Rank 0: ids for the listed rows, metadata, FAISS index, manifest; then commit."""
    manifest: dict[str, Any] = store.read_manifest(base) if base else {"shards": [], "next_id": 0, "skipped": []}
    report = WriteReport(op="build" if base is None else "add")
    vec_dir, dim = root / store.VECTORS, int(manifest.get("dim", 0))
    for note in notes:
        report.already_indexed += note["known"]
        report.duplicates += note["duplicates"]
        report.bad += [{"where": items[int(p)].where, "path": items[int(p)].path, "error": m} for p, m in note["bad"].items()]
        if len(note["rows"]):
            if dim and note["dim"] != dim:
                raise EqvlError(f"new embeddings have dimension {note['dim']}, the index {dim} (different model?)")
            dim = note["dim"]
    base_meta = MetaStore.open_readonly(base / store.META) if base else None
    try:
        plan = plan_rows(notes, items, base_meta, int(manifest["next_id"]), update)
    finally:
        if base_meta is not None:
            base_meta.close()
    report.bad += [{"where": items[p].where, "path": items[p].path, "error": "same content as an unreadable image"}
                   for p in plan.unreadable]
    if not plan.rows and base is None:
        _nothing_to_index(items, report)
    if isinstance(index_kind, str) and index_kind not in ann.KINDS:
        check_trainable(index_kind, len(plan.rows))
    shards = list(manifest["shards"])
    for note, ids in zip(notes, plan.embedded_ids):
        if len(note["rows"]):
            write_ids(vec_dir, note["stem"], ids)
            shards.append(note["stem"])
    if plan.copies:
        shards.append(_copy_vectors(vec_dir, shards, dim, plan.copies))
    staged = store.staging_dir(root)
    meta = MetaStore.create(staged / store.META, copy_from=base / store.META if base else None)
    try:
        meta.insert(plan.rows)
    except sqlite3.IntegrityError as exc:
        raise EqvlError(f"{root}: an image path is already indexed with other content ({exc}); remove it first") from None
    meta.update(plan.updates)
    count = meta.count()
    meta.finish()
    vstore = VectorStore(vec_dir, shards, dim)
    new_ids = np.array([r[0] for r in plan.rows], dtype=np.int64)
    spec, deleted = _faiss_for(root, base, manifest, index_kind, vstore, new_ids, staged)
    np.save(staged / store.DELETED, deleted)
    report.copies, report.updated = len(plan.copies) + plan.repeats, len(plan.updates)
    report.duplicates += plan.repeats
    report.added, report.count, report.index = len(plan.rows) - report.copies, count, spec.factory
    now = time.strftime("%Y-%m-%dT%H:%M:%S")
    manifest.update(model=model, dim=dim, count=count, next_id=plan.next_id, shards=shards, index=spec.to_dict(),
                    deleted=int(len(deleted)), skipped=list(manifest.get("skipped", [])) + report.bad, updated=now)
    manifest.setdefault("created", now)
    report.generation = _commit(root, staged, manifest)
    return report


def _nothing_to_index(items: Sequence[Item], report: WriteReport) -> None:
    first = report.bad[0] if report.bad else None
    example = f", e.g. {first['where']}: {first['error']}" if first else ""
    raise EqvlError(f"nothing to index: all {len(items)} listed image(s) were skipped as unreadable{example}")


def _copy_vectors(vec_dir: Path, shards: list[str], dim: int, copies: list[tuple[int, int]]) -> str:
    """One new shard holding, for each (new id, source id), a copy of the source's stored vector."""
    source = VectorStore(vec_dir, shards, dim)
    stem = new_stem()
    write_vectors(vec_dir, stem, source.get(np.array([s for _, s in copies], dtype=np.int64)))
    write_ids(vec_dir, stem, np.array([n for n, _ in copies], dtype=np.int64))
    return stem


def _faiss_for(root: Path, base: Path | None, manifest: dict, index_kind: Any, vstore: VectorStore,
               new_ids: np.ndarray, staged: Path) -> tuple[ann.IndexSpec, np.ndarray]:
    """A new index over every stored vector (build), or the live one plus the new vectors (add)."""
    if base is None and hasattr(index_kind, "build"):  # a tuning.IndexPlan: budget, recall target, on-disk lists
        spec, index = index_kind.build(vstore, vstore.ids, staged)
        deleted = np.zeros(0, np.int64)
    elif base is None:
        spec = ann.choose_spec(index_kind or "auto", len(vstore), vstore.dim)
        index = build_from_store(spec, vstore, vstore.ids)
        deleted = np.zeros(0, np.int64)
    else:
        spec = ann.IndexSpec.from_dict(manifest["index"])
        index = ann.read(base / store.FAISS_FILE)
        for ids, rows in vstore.chunks(new_ids):
            ann.add(index, ids, rows)
        deleted = np.load(base / store.DELETED)
    ann.write(index, staged / store.FAISS_FILE)
    return spec, deleted


def build_from_store(spec: ann.IndexSpec, vstore: VectorStore, ids: np.ndarray):
    """Train (on a random sample) and fill a FAISS index from the stored vectors of `ids`."""
    rng = np.random.default_rng(0)
    sample_ids = np.sort(rng.choice(ids, size=min(len(ids), TRAIN_MAX), replace=False)) if len(ids) else ids
    try:
        return ann.build(spec, vstore.dim, lambda: vstore.get(sample_ids), vstore.chunks(ids))
    except RuntimeError as exc:  # FAISS's own refusal (e.g. too few training points): one line
        last = str(exc).strip().splitlines()[-1][:200] if str(exc).strip() else type(exc).__name__
        raise EqvlError(f"cannot build the FAISS index {spec.factory} on {len(ids)} vectors ({last})") from None


def _commit(root: Path, staged: Path, manifest: dict) -> str:
    pause_point("staged")
    return store.commit(root, staged, manifest, before_switch=lambda: pause_point("renamed")).name


def remove_paths(root: Path, paths: Sequence[str], ignore_missing: bool = False, purge: bool = True,
                 wait: float = 0.0) -> WriteReport:
    """Drop the listed images. `purge` (default): their vectors leave the shards (rewritten) and the
    FAISS index (`remove_ids`, or a rebuild where the index type cannot remove) in this commit.
    Without it they are only masked in FAISS (rebuilt past COMPACT_SHARE) and stay in the shards."""
    started = time.perf_counter()
    with store.writer_lock(root, wait):
        base = store.current_generation(root)
        store.collect_garbage(root)
        manifest = store.read_manifest(base)
        live = MetaStore.open_readonly(base / store.META)
        found = live.ids_by_path(list(paths))
        live.close()
        missing = [p for p in paths if p not in found]
        if missing and not ignore_missing:
            raise EqvlError(f"{len(missing)} path(s) are not in the index, e.g. {missing[0]} "
                            "(nothing removed; pass `ignore_missing` to remove the others)", params=("ignore_missing",))
        staged = store.staging_dir(root)
        meta = MetaStore.create(staged / store.META, copy_from=base / store.META)
        meta.delete(list(found.values()))
        count, live_ids = meta.count(), meta.live_ids()
        meta.finish()
        deleted = np.union1d(store.load_deleted(base), np.fromiter(found.values(), dtype=np.int64))
        spec = ann.IndexSpec.from_dict(manifest["index"])
        index = ann.read(base / store.FAISS_FILE)
        vec_dir, dim = root / store.VECTORS, int(manifest["dim"])
        if purge:
            manifest["shards"] = purge_shards(vec_dir, manifest["shards"], deleted)
            vstore = VectorStore(vec_dir, manifest["shards"], dim)
            index = purge_faiss(index, deleted, lambda: build_from_store(spec, vstore, live_ids))
            ann.write(index, staged / store.FAISS_FILE)
            deleted = np.zeros(0, np.int64)
        elif len(deleted) > COMPACT_SHARE * index.ntotal:
            vstore = VectorStore(vec_dir, manifest["shards"], dim)
            ann.write(build_from_store(spec, vstore, live_ids), staged / store.FAISS_FILE)
            deleted = np.zeros(0, np.int64)
        else:
            os.link(base / store.FAISS_FILE, staged / store.FAISS_FILE)
        np.save(staged / store.DELETED, deleted)
        manifest.update(count=count, deleted=int(len(deleted)), updated=time.strftime("%Y-%m-%dT%H:%M:%S"))
        generation = _commit(root, staged, manifest)
    return WriteReport(op="remove", count=count, removed=len(found), index=spec.factory, generation=generation,
                       seconds=time.perf_counter() - started)
