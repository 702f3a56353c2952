"""From the ranks' notes to metadata rows: new ids, known content under new paths, updated metadata.

Every listed path ends up as one metadata row (one id) unless its image is unreadable:
  * new content: embedded, a new id;
  * content already indexed, or repeated in the input, under a path the index does not hold:
    a new id whose vector is a copy of the stored one (no second embedding), so each path is
    searchable, filterable and removable on its own;
  * a path the index already holds with the same content: its caption and extra columns are
    replaced by the listed ones (`update`), or left as they are;
  * a path the index holds with other content: refused (remove it first).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Sequence

import numpy as np

from eqvl.errors import EqvlError
from eqvl.index.metadata import MetaStore
from eqvl.index.sources import Item

Row = tuple[int, str, str, str, dict[str, str]]


@dataclass
class Plan:
    """What one write does to the metadata, and where its new vectors come from."""

    rows: list[Row] = field(default_factory=list)  # new rows (embedded and copied)
    embedded_ids: list[np.ndarray] = field(default_factory=list)  # per note: id of each embedded row (-1: none)
    copies: list[tuple[int, int]] = field(default_factory=list)  # (new id, id whose stored vector it copies)
    updates: list[Row] = field(default_factory=list)  # rows of known paths whose metadata changes
    unchanged: int = 0
    repeats: int = 0  # rows of content another rank embedded too (each keeps its own vector)
    unreadable: list[int] = field(default_factory=list)  # positions repeating an image that failed to embed
    next_id: int = 0


def plan_rows(notes: list[dict], items: Sequence[Item], base: MetaStore | None, next_id: int,
              update: bool = True) -> Plan:
    plan = Plan(next_id=next_id)
    new_by_hash: dict[str, int] = {}
    embedded: set[int] = set()
    for note in notes:
        ids = np.full(len(note["rows"]), -1, dtype=np.int64)
        for r, pos in enumerate(note["rows"]):
            h = note["hashes"][pos - note["start"]]
            embedded.add(pos)
            if h in new_by_hash:  # the same bytes embedded by two ranks: a row of its own, on its own vector
                plan.repeats += 1
            else:
                new_by_hash[h] = plan.next_id
            ids[r] = plan.next_id
            _append(plan, items[pos], h)
        plan.embedded_ids.append(ids)
    rest = [(note["start"] + j, h) for note in notes for j, h in enumerate(note["hashes"])
            if h is not None and note["start"] + j not in embedded and str(note["start"] + j) not in note["bad"]]
    known_hash = base.ids_by_hash([h for _, h in rest]) if base is not None and rest else {}
    known_path = base.rows_by_path([items[p].path for p, _ in rest]) if base is not None and rest else {}
    for pos, h in rest:
        item = items[pos]
        row = known_path.get(item.path)
        if row is not None:
            if row["hash"] != h:
                raise EqvlError(f"{item.path} is already indexed with other content (listed at {item.where}); "
                                "remove it first")
            changed = _changed(row, item)
            if update and changed:
                plan.updates.append((int(row["id"]), item.path, item.caption, h, item.extra))
            else:
                plan.unchanged += 1
            continue
        source = new_by_hash.get(h, known_hash.get(h))
        if source is None:  # repeats the bytes of an image that could not be embedded (--skip-bad)
            plan.unreadable.append(pos)
            continue
        plan.copies.append((plan.next_id, int(source)))
        _append(plan, item, h)
    return plan


def _append(plan: Plan, item: Item, h: str) -> None:
    plan.rows.append((plan.next_id, item.path, item.caption, h, item.extra))
    plan.next_id += 1


def _changed(row: dict[str, str], item: Item) -> bool:
    if (row.get("caption") or "") != item.caption:
        return True
    return any((row.get(k) if row.get(k) is not None else "") != v for k, v in item.extra.items())
