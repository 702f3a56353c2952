"""GEBC / Kinetics-GEB+ boundary annotations: the layout check and the status captions, shared by
the twin miner (`eqvl build gebc`) and the grounding benchmark (`gebc-grounding`)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from eqvl.errors import DataError

LAYOUT = ("{youtube_id: [{boundary_id, timestamp, prev_timestamp, next_timestamp, label, subject, status_before, "
          "status_after, action_of_cause, caption}, ...]} (GEBC / Kinetics-GEB+ train/val/test.json)")
REQUIRED = ("timestamp", "status_before", "status_after")


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
                if key in b and not isinstance(b[key], (int, float)):
                    raise DataError(f"expected seconds, got {b[key]!r}", path=str(path), field=f"{vid}[{k}].{key}")
            for key in ("status_before", "status_after"):
                if not isinstance(b[key], str) or not b[key].strip():
                    raise DataError("expected a non-empty status caption", path=str(path), field=f"{vid}[{k}].{key}")
    return ann


def status_caption(boundary: dict, status: str) -> str:
    """Subject + status ("a man in blue" + "stands on a rope"), capitalised and full-stopped."""
    subject = str(boundary.get("subject") or "").strip()
    text = f"{subject} {boundary[status].strip()}".strip().rstrip(".")
    return text[:1].upper() + text[1:] + "."
