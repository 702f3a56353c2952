"""Indexes that grow: when the live index no longer fits its collection, and `eqvl index rebuild`.

`add` appends to the FAISS index it has: a Flat index past the size rule's limit stays Flat, and
an IVF keeps the lists it was trained for (2 sqrt n lists at build time, so at 100x the vectors a
list is 10x longer than the rule would make it, and each probe costs 10x). `growth_advice` says
so from the manifest; `rebuild` trains a new index over the live vectors (the size rule at today's
count, or the kind / budget asked for), drops masked removed ids, and swaps it in as the next
generation — the same transaction as every write (staging folder, fsync, rename, one pointer
switch), so a `kill -9` leaves the old generation live. Ids, metadata and stored vectors are
unchanged (the metadata file is hard-linked: live generations are never modified).
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

import numpy as np

from eqvl.index import ann, store
from eqvl.index.metadata import MetaStore
from eqvl.index.vectors import VectorStore
from eqvl.index.writer import WriteReport, build_from_store, pause_point

#: an index sized and trained for n vectors is advised a rebuild once the collection has this many times n
GROWTH_FACTOR = 4.0


def growth_advice(manifest: dict[str, Any]) -> list[str]:
    """Sentences for `info`: the collection outgrew the size rule's tier, or the IVF's training size."""
    spec = ann.IndexSpec.from_dict(manifest["index"])
    count, trained = int(manifest.get("count", 0)), spec.facts.get("trained_on")
    out = []
    if spec.facts.get("chosen_by") == "size rule" and spec.kind != ann.size_rule_kind(count):
        out.append(f"the collection has {count:,} vectors, past the size rule's tier for {spec.kind} "
                   f"(chosen at {trained:,}): `eqvl index rebuild` would build {ann.size_rule_kind(count)}")
    if trained and not spec.exact and count >= GROWTH_FACTOR * int(trained):
        out.append(f"the {spec.factory} index was sized and trained for {int(trained):,} vectors and now holds "
                   f"{count:,} ({count / int(trained):.0f}x): lists are longer and recall per probe lower; "
                   "run `eqvl index rebuild`")
    tuning = spec.facts.get("tuning")
    if tuning and trained and count >= 2 * int(trained):
        out.append(f"search parameters were tuned at {int(trained):,} vectors; `eqvl index rebuild "
                   "--target-recall` tunes them again")
    return out


def rebuild(root: str | os.PathLike, index: Any = "auto") -> WriteReport:
    """A new FAISS index over the live vectors (`index`: an --index string or a tuning.IndexPlan),
    committed as the next generation; ids, metadata and vectors are kept."""
    root = Path(root)
    started = time.perf_counter()
    with store.writer_lock(root):
        base = store.current_generation(root)
        store.collect_garbage(root)
        manifest = store.read_manifest(base)
        meta = MetaStore.open_readonly(base / store.META)
        live = meta.live_ids()
        meta.close()
        vstore = VectorStore(root / store.VECTORS, manifest["shards"], int(manifest["dim"]))
        staged = store.staging_dir(root)
        if hasattr(index, "build"):
            spec, built = index.build(vstore, live, staged)
        else:
            spec = ann.choose_spec(index or "auto", len(live), vstore.dim)
            built = build_from_store(spec, vstore, live)
        ann.write(built, staged / store.FAISS_FILE)
        os.link(base / store.META, staged / store.META)
        np.save(staged / store.DELETED, np.zeros(0, np.int64))
        manifest.update(index=spec.to_dict(), deleted=0, updated=time.strftime("%Y-%m-%dT%H:%M:%S"))
        pause_point("staged")
        generation = store.commit(root, staged, manifest, before_switch=lambda: pause_point("renamed")).name
    return WriteReport(op="rebuild", count=len(live), index=spec.factory, generation=generation,
                       seconds=time.perf_counter() - started)


def captions(generation: Path, limit: int = 100_000) -> list[str]:
    """Up to `limit` non-empty captions of a generation's items (the tuner's text queries come from them)."""
    meta = MetaStore.open_readonly(generation / store.META)
    try:
        rows = meta.rows(meta.live_ids()[:limit].tolist())
    finally:
        meta.close()
    return [r["caption"] for r in rows.values() if r.get("caption")]
