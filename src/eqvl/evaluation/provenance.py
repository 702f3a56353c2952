"""What made a run's numbers: benchmark, data (path + content hash), model (name, weights, identity).

Written into the results JSON and into every score file, so `eqvl report` can refuse to
draw one run's scores under another run's results.
"""

from __future__ import annotations

import hashlib
import json
from typing import TYPE_CHECKING, Any, Sequence

from eqvl.data.records import ScoreItem
from eqvl.errors import DataError

if TYPE_CHECKING:
    from eqvl.models.base import Encoder, PairScorer


def items_hash(items: Sequence[ScoreItem], images: Sequence[Any] = (), captions: Sequence[str] = ()) -> str:
    """Content hash of the data as read: ids, subsets, captions, image paths and crops, in order
    (full-matrix benchmarks: their image and caption lists). Same files -> same hash."""
    digest = hashlib.blake2b(digest_size=16)
    for item in items:
        digest.update(json.dumps([item.id, item.subset, item.captions, [r.key() for r in item.images]]).encode())
    for ref in images:
        digest.update(ref.key().encode() + b"\0")
    for text in captions:
        digest.update(text.encode() + b"\0")
    return digest.hexdigest()


def model_hash(identity: str) -> str:
    """Short stable hash of an encoder's identity (name, weights hash, preprocessing, precision)."""
    return hashlib.blake2b(identity.encode(), digest_size=12).hexdigest()


def provenance(benchmark: str, data_path: str, data_hash: str, encoder: Encoder | PairScorer, n_items: int) -> dict[str, Any]:
    return {
        "benchmark": benchmark,
        "data": data_path,
        "data_hash": data_hash,
        "model": encoder.name,
        "pretrained": encoder.pretrained,
        "model_hash": model_hash(encoder.identity()),
        "n_items": n_items,
    }


#: fields that must agree between a score file and the results it is drawn with
MATCHED = ("benchmark", "data_hash", "model_hash", "n_items")


def check_same_run(scores_meta: dict[str, Any] | None, n_rows: int, results: dict[str, Any],
                   scores_path: str, results_path: str) -> None:
    """Refuse (one DataError line) scores that another run made: another benchmark, other data,
    another model or weights, or another number of items. Files written before eqvl recorded
    provenance are checked on what they have (the item count)."""
    made = results.get("provenance") or {"benchmark": results.get("dataset"), "n_items": results.get("n_items")}
    theirs = dict(scores_meta or {}, n_items=n_rows)
    for key in MATCHED:
        if key in made and key in theirs and made[key] is not None and theirs[key] != made[key]:
            raise DataError(
                f"these scores come from another run than {results_path}: {key} {theirs[key]!r} vs {made[key]!r} "
                f"(scores: {_describe(theirs)}; results: {_describe(made)})",
                path=scores_path,
            )


def _describe(meta: dict[str, Any]) -> str:
    parts = [f"{k} {meta[k]}" for k in ("benchmark", "data", "model", "pretrained") if meta.get(k) is not None]
    return ", ".join(parts + [f"n={meta.get('n_items')}"])
