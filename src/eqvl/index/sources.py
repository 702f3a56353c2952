"""What `--images` names, read into a list of `Item`s: the training-data formats, or a folder.

The same inputs as `eqvl train` takes: an open_clip CSV (tab-separated, `filepath` + optional
`title` and any extra columns), JSONL (`filepath`/`image` + `title`/`caption` + extra keys), or a
folder of images (searched recursively). Relative paths are resolved against the listing file's
folder, as the trainer does. Bad listings fail here, before any model is built.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from eqvl.data.paths import resolve_data_path
from eqvl.errors import DataError, EqvlError
from eqvl.data.pairs import PairFormat, pair_records

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff", ".npy")
#: column names the metadata store uses itself; an input column with one of these names is refused
RESERVED = ("id", "path", "caption", "hash")


@dataclass
class Item:
    """One image to index: absolute path, caption, extra columns, and where it was listed (for errors)."""

    path: str
    caption: str = ""
    extra: dict[str, str] = field(default_factory=dict)
    where: str = ""


@dataclass
class SourceFormat:
    """How to read a CSV / JSONL listing (open_clip's flag names)."""

    img_key: str = "filepath"
    caption_key: str = "title"
    separator: str = "\t"


def read_items(spec: str | os.PathLike, fmt: SourceFormat | None = None) -> list[Item]:
    """Items of a CSV / TSV / JSONL listing or an image folder; duplicate paths and empty inputs are errors."""
    fmt = fmt or SourceFormat()
    path = Path(spec)
    if path.is_dir():
        items = _from_folder(path)
    elif not path.exists():
        raise EqvlError(f"`images` {path}: no such file or folder", params=("images",))
    else:
        items = _from_listing(path, fmt)
    if not items:
        raise DataError("no images listed (empty input)", path=str(path))
    _check_unique(items)
    return items


def _resolve(base: Path, value: str) -> str:
    return os.path.abspath(resolve_data_path(base, value))  # outside-root rule: eqvl.data.paths


def _from_folder(root: Path) -> list[Item]:
    found = sorted(p for p in root.rglob("*") if p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES)
    return [Item(os.path.abspath(p), "", {}, str(p)) for p in found]


def _extra(raw: dict, used: set[str], where: str) -> dict[str, str]:
    extra: dict[str, str] = {}
    for key, value in raw.items():
        if key in used:
            continue
        if key in RESERVED:
            raise DataError(f"column {key!r} is reserved by the index (id, path, caption, hash); rename it", path=where)
        extra[key] = "" if value is None else value if isinstance(value, str) else str(value)
    return extra


def _from_listing(path: Path, fmt: SourceFormat) -> list[Item]:
    """Items of a CSV / JSONL listing (`eqvl.data.pairs`: the trainer's reader); no caption needed."""
    items: list[Item] = []
    pair_format = PairFormat(fmt.img_key, fmt.caption_key, fmt.separator, required=("image",))
    for record in pair_records(path, pair_format):
        where = f"{path}:{record.line}"
        value = record.raw.get(record.img_key) if record.img_key else None
        if not isinstance(value, str) or not value.strip():
            raise DataError("missing or empty image path", path=str(path), line=record.line, field=fmt.img_key)
        caption = record.raw.get(record.cap_key) if record.cap_key else ""
        if caption is None:
            caption = ""
        if not isinstance(caption, str):
            raise DataError("caption is not a string", path=str(path), line=record.line, field=record.cap_key)
        extra = _extra(record.raw, {record.img_key or "", record.cap_key or ""}, where)
        items.append(Item(_resolve(path.parent, value.strip()), caption, extra, where))
    return items


def _check_unique(items: list[Item]) -> None:
    seen: dict[str, str] = {}
    for item in items:
        if item.path in seen:
            raise DataError(f"duplicate image path {item.path} (first listed at {seen[item.path]})", path=item.where)
        seen[item.path] = item.where


def read_path_list(spec: str | os.PathLike) -> list[str]:
    """`remove --paths FILE`: one image path per line (relative to the list's folder); blank lines ignored."""
    path = Path(spec)
    if not path.is_file():
        raise EqvlError(f"`paths` {path}: no such file", params=("paths",))
    out = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip():
            out.append(_resolve(path.parent, line.strip()))
    if not out:
        raise DataError("no paths listed (empty file)", path=str(path))
    return out
