"""Find a dataset's videos by id under a folder, whatever sub-folders the copy uses.

Kinetics clips (GEBC) are stored as `<class>/<ytid>_<start:06d>_<end:06d>.mp4` or `<ytid>.mp4`;
YouCook2's download script writes `raw_videos/<split>/<recipe_type>/<video_id>.<ext>`. One walk of
the folder maps each id to its file (sorted, so the first of two copies wins every time).
"""

from __future__ import annotations

import re
from pathlib import Path

from eqvl.errors import DataError

VIDEO_SUFFIXES = (".mp4", ".mkv", ".webm", ".avi", ".mov")
_KINETICS = re.compile(r"^(?P<id>.+)_(?P<start>\d{6})_(?P<end>\d{6})$")


def index_videos(folder: str | Path) -> dict[str, Path]:
    """video id -> file, for every video under `folder` (ids from the file name, Kinetics suffix removed)."""
    folder = Path(folder)
    if not folder.is_dir():
        raise DataError("videos folder not found", path=str(folder))
    out: dict[str, Path] = {}
    for path in sorted(p for p in folder.rglob("*") if p.suffix.lower() in VIDEO_SUFFIXES and p.is_file()):
        out.setdefault(path.stem, path)
        m = _KINETICS.match(path.stem)
        if m:
            out.setdefault(m["id"], path)
    return out
