"""`--export eqben`: a build's twins in EqBen's official per-subset layout, for EqBen's own toolkit.

    eqben/eqbenag.json         {video: {subject: [{image0, image1, caption0: [..], caption1: [..]}]}}
    eqben/eqbenyoucook2.json   {video: [{image0, image1, caption0, caption1}]}   (images: BGR .npy)
    eqben/eqbengebc.json       {video: [{image0, image1, caption0, caption1}]}
    eqben/eqbensd.json         [{image0, image1, caption0, caption1}]
    eqben/image/<eqbenag|...>/<video>/<frame>.<ext>   (paths in the JSON are relative to this folder)
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any, Iterable

import numpy as np
from PIL import Image

from eqvl.errors import EqvlError
from eqvl.io import atomic_open, write_json_atomic

FOLDERS = {"ag": "eqbenag", "youcook2": "eqbenyoucook2", "gebc": "eqbengebc", "sd": "eqbensd"}


def _place(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.exists():
        dst.unlink()
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


def _image(out: Path, rel: str, root: Path, subset: str) -> str:
    """Put one image under the export's image root; returns its path relative to that root."""
    src = out / rel
    inner = Path(rel).relative_to("images") if rel.startswith("images/") else Path(rel)
    if subset == "youcook2":  # EqBen's YouCook2 frames are OpenCV-order (BGR) arrays
        inner = inner.with_suffix(".npy")
        target = root / inner
        target.parent.mkdir(parents=True, exist_ok=True)
        with Image.open(src) as handle:
            bgr = np.ascontiguousarray(np.asarray(handle.convert("RGB"))[:, :, ::-1])
        with atomic_open(target, "wb") as f:
            np.save(f, bgr, allow_pickle=False)
    else:
        _place(src, root / inner)
    return inner.as_posix()


def export_eqben(out: str | Path, rows: Iterable[dict], subset: str) -> str:
    """Write the EqBen layout under `out/eqben`; returns the annotation file's path relative to `out`."""
    if subset not in FOLDERS:
        raise EqvlError(f"`export` eqben: no EqBen layout for subset {subset!r}; valid: {', '.join(FOLDERS)}", params=("export",))
    out = Path(out)
    folder = FOLDERS[subset]
    root = out / "eqben" / "image" / folder
    if root.exists():
        shutil.rmtree(root)
    nested: dict = {}
    flat: list = []
    for row in rows:
        rec: dict[str, Any] = {"image0": _image(out, row["image_0"], root, subset), "image1": _image(out, row["image_1"], root, subset)}
        if subset == "ag":
            rec["caption0"] = row.get("captions_0") or [row["caption_0"]]
            rec["caption1"] = row.get("captions_1") or [row["caption_1"]]
            nested.setdefault(row["video"], {}).setdefault(row.get("object", "object"), []).append(rec)
        else:
            rec["caption0"], rec["caption1"] = row["caption_0"], row["caption_1"]
            if subset == "sd":
                flat.append(rec)
            else:
                nested.setdefault(row["video"], []).append(rec)
    rel = f"eqben/{folder}.json"
    write_json_atomic(out / rel, flat if subset == "sd" else nested)
    return rel


def export_accepted(folder: str | Path, accepted: str | Path | None = None) -> tuple[str, int]:
    """Re-export a finished build, keeping only the twins accepted in `accepted` (a review decisions file)."""
    from eqvl.errors import DataError
    from eqvl.io import read_json, read_jsonl

    folder = Path(folder)
    manifest = read_json(folder / "manifest.json")
    subset = manifest.get("dataset") if isinstance(manifest, dict) else None
    rows = [obj for _, obj in read_jsonl(folder / "twins.jsonl")]
    if accepted is not None:
        from eqvl.data.decisions import accepted_ids

        keep = accepted_ids(accepted)
        rows = [r for r in rows if r.get("id") in keep]
        if not rows:
            raise DataError("no twin of this build is accepted there", path=str(accepted))
    return export_eqben(folder, rows, str(subset)), len(rows)
