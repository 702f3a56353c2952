"""Rows of a benchmark released as a Hugging Face dataset, read from a local copy.

Three local forms are read, none downloads anything:
- parquet files as on the Hub (`data/test-00000-of-00001.parquet`, `test/*.parquet`, or one file);
- a `datasets.save_to_disk` folder (`dataset_info.json` + `data-*.arrow`, or a `dataset_dict.json`
  with one folder per split), read as Arrow streams with pyarrow, so `datasets` is not needed;
- a single `.parquet` / `.arrow` file given as `--data`.

Image columns hold `{"bytes", "path"}` structs. Embedded bytes are written once to an extraction
folder under a name made of their content hash, so the scoring engine (which reads paths and caches
by content) sees ordinary files; a struct with only a path is resolved against the copy's folder.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any, Iterator, Sequence

from eqvl.errors import DataError, EqvlError
from eqvl.io import atomic_open

#: what the extraction folder is called when the caller gives none (beside the tables)
EXTRACT_DIRNAME = "eqvl_images"
_MAGIC = ((b"\x89PNG", ".png"), (b"\xff\xd8", ".jpg"), (b"GIF8", ".gif"), (b"BM", ".bmp"), (b"RIFF", ".webp"))


def _pyarrow():
    try:
        import pyarrow  # noqa: F401
        import pyarrow.ipc  # noqa: F401
        import pyarrow.parquet  # noqa: F401
    except ImportError:
        raise EqvlError("reading parquet / Arrow benchmark files needs pyarrow: pip install 'eqvl[hf]' (or pyarrow)") from None
    return pyarrow


def is_table_copy(folder: Path) -> bool:
    """True for a folder that looks like a local HF dataset copy (parquet or save_to_disk)."""
    if folder.is_file():
        return folder.suffix in (".parquet", ".arrow")
    if (folder / "dataset_dict.json").is_file() or (folder / "dataset_info.json").is_file():
        return True
    return any(folder.glob("*.parquet")) or any(folder.glob("*/*.parquet")) or any(folder.glob("*/*/*.parquet"))


def table_files(folder: Path, split: str | None) -> list[Path]:
    """The parquet / arrow files of `split` (None: every file) in a local copy, sorted."""
    folder = Path(folder)
    if folder.is_file():
        return [folder]
    if (folder / "dataset_dict.json").is_file():
        splits = json.loads((folder / "dataset_dict.json").read_text(encoding="utf-8")).get("splits", [])
        chosen = [s for s in splits if split in (None, s)]
        return sorted(f for s in chosen for f in (folder / s).glob("data-*.arrow"))
    if (folder / "dataset_info.json").is_file() and any(folder.glob("data-*.arrow")):
        return sorted(folder.glob("data-*.arrow"))
    files = sorted(set(folder.glob("*.parquet")) | set(folder.glob("*/*.parquet")) | set(folder.glob("*/*/*.parquet")))
    if split is None:
        return files
    # Hub names: <split>-00000-of-00001.parquet, <split>/xxx.parquet, data/<split>-*.parquet
    return [f for f in files if f.name.startswith(f"{split}-") or f.name == f"{split}.parquet" or f.parent.name == split]


def column_names(path: Path) -> list[str]:
    """The columns of one table file (only the schema is read)."""
    pa = _pyarrow()
    try:
        if path.suffix == ".arrow":
            with pa.memory_map(str(path)) as source:
                return list(_open_arrow(pa, source).schema.names)
        return list(pa.parquet.read_schema(str(path)).names)
    except (OSError, pa.ArrowInvalid) as exc:
        raise DataError(f"not a readable {path.suffix[1:]} table: {exc}", path=str(path)) from None


def table_columns(folder: Path) -> set[str]:
    """The columns of a local table copy's first file; empty when it is none or unreadable (for `detect`)."""
    try:
        if not is_table_copy(folder):
            return set()
        files = table_files(folder, None)
        return set(column_names(files[0])) if files else set()
    except Exception:  # a hint only: the reader itself reports an unreadable table
        return set()


def _open_arrow(pa, source):
    try:
        return pa.ipc.open_stream(source)  # save_to_disk writes the streaming format
    except pa.ArrowInvalid:
        source.seek(0)
        return pa.ipc.open_file(source)


def read_table_rows(files: Sequence[Path], columns: Sequence[str]) -> Iterator[tuple[Path, int, dict[str, Any]]]:
    """(file, row index in that file, {column: value}) for every row; a missing column names file and field."""
    pa = _pyarrow()
    for path in files:
        have = column_names(path)
        missing = [c for c in columns if c not in have]
        if missing:
            raise DataError(f"missing column(s) {', '.join(missing)}; the file has {', '.join(have)}", path=str(path),
                            field=missing[0])
        try:
            if path.suffix == ".arrow":
                with pa.memory_map(str(path)) as source:
                    table = _open_arrow(pa, source).read_all().select(list(columns))
            else:
                table = pa.parquet.read_table(str(path), columns=list(columns))
        except (OSError, pa.ArrowInvalid) as exc:
            raise DataError(f"not a readable table: {exc}", path=str(path)) from None
        for k, row in enumerate(table.to_pylist()):
            yield path, k, row


def image_file(value: Any, extract_dir: Path, base: Path, where: str, path: Path) -> str:
    """A file path for an image cell: embedded bytes are written to `extract_dir` (once, by content hash);
    a cell with only a path is resolved against `base`; a plain string is a path too."""
    if isinstance(value, str) and value.strip():
        return str(base / value) if not Path(value).is_absolute() else value
    if not isinstance(value, dict):
        raise DataError(f"expected an image ({{bytes, path}} or a path), got {type(value).__name__}", path=str(path), field=where)
    data = value.get("bytes")
    if data:
        return extract_bytes(bytes(data), extract_dir, value.get("path"))
    if value.get("path"):
        return image_file(str(value["path"]), extract_dir, base, where, path)
    raise DataError("image cell has neither bytes nor a path", path=str(path), field=where)


def extract_bytes(data: bytes, extract_dir: Path, name_hint: str | None = None) -> str:
    """Write `data` as `<hash><suffix>` under `extract_dir` unless it is there already; return its path."""
    suffix = next((s for magic, s in _MAGIC if data.startswith(magic)), None)
    if suffix is None:
        suffix = Path(name_hint).suffix.lower() if name_hint and Path(name_hint).suffix else ".img"
    target = Path(extract_dir) / (hashlib.blake2b(data, digest_size=16).hexdigest() + suffix)
    if not target.is_file():
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            with atomic_open(target, "wb") as handle:
                handle.write(data)
        except OSError as exc:
            raise EqvlError(f"cannot write embedded images to {target.parent} ({exc.strerror or exc}); "
                            "pass `option` extract_dir=<a writable folder>", params=("option",)) from None
    return str(target)
