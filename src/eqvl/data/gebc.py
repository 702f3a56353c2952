"""GEBC / Kinetics-GEB+ boundary annotations: the layout check, the grouping of several annotators'
records of one boundary, and the status captions; shared by the twin miner (`eqvl build gebc`) and
the grounding benchmark (`gebc-grounding`).

In the real GEB+ files one boundary can carry several records, one per annotator, with ids ending
A, B, C ("-N69Jdzk6B4_1A", "-N69Jdzk6B4_1B") and the same timestamp (444 of val's 2,082 videos).
They describe ONE instant: `boundary_instants` groups them.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from eqvl.errors import DataError

LAYOUT = ("{youtube_id: [{boundary_id, timestamp, prev_timestamp, next_timestamp, label, subject, status_before, "
          "status_after, action_of_cause, caption}, ...]} (GEBC / Kinetics-GEB+ train/val/test.json)")
REQUIRED = ("timestamp", "status_before", "status_after")


def _check_time(value: Any, path: Path, where: str, allow_negative: bool) -> None:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise DataError(f"expected seconds, got {value!r}", path=str(path), field=where)
    if not math.isfinite(value):
        raise DataError(f"expected a finite number of seconds, got {value!r}", path=str(path), field=where)
    if value < 0 and not allow_negative:
        raise DataError(f"expected seconds >= 0, got {value!r}", path=str(path), field=where)


def check_gebc_annotations(ann: Any, path: Path) -> dict[str, list[dict]]:
    """The parsed GEBC file itself, after checking every boundary record; errors name file and field."""
    if isinstance(ann, dict) and "database" in ann:
        raise DataError(f"this is a YouCook2 annotation file; expected the GEBC layout {LAYOUT}", path=str(path))
    if not isinstance(ann, dict) or not ann:
        raise DataError(f"expected the GEBC layout {LAYOUT}; got {type(ann).__name__}", path=str(path))
    for vid, bounds in ann.items():
        if not isinstance(bounds, list) or not all(isinstance(b, dict) for b in bounds):
            raise DataError(f"expected the GEBC layout {LAYOUT}", path=str(path), field=vid)
        for k, b in enumerate(bounds):
            for key in REQUIRED:
                if key not in b:
                    raise DataError(f"missing required field (expected the GEBC layout {LAYOUT})", path=str(path), field=f"{vid}[{k}].{key}")
            for key in ("timestamp", "prev_timestamp", "next_timestamp"):
                if key in b:  # some copies mark "no previous boundary" with prev_timestamp -1
                    _check_time(b[key], path, f"{vid}[{k}].{key}", allow_negative=key == "prev_timestamp")
            for key in ("status_before", "status_after"):
                if not isinstance(b[key], str) or not b[key].strip():
                    raise DataError("expected a non-empty status caption", path=str(path), field=f"{vid}[{k}].{key}")
    return ann


def boundary_instants(bounds: list[dict]) -> list[list[dict]]:
    """A video's records grouped by timestamp (one group per boundary instant), in time order;
    within a group, records in boundary-id order (annotator A first)."""
    groups: dict[float, list[dict]] = {}
    for b in bounds:
        groups.setdefault(round(float(b["timestamp"]), 6), []).append(b)
    return [sorted(groups[t], key=lambda b: str(b.get("boundary_id", ""))) for t in sorted(groups)]


def status_caption(boundary: dict, status: str) -> str:
    """Subject + status ("a man in blue" + "stands on a rope"), capitalised and full-stopped."""
    subject = str(boundary.get("subject") or "").strip()
    text = f"{subject} {boundary[status].strip()}".strip().rstrip(".")
    return text[:1].upper() + text[1:] + "."
