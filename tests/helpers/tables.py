"""Hugging Face-style table copies for the reader tests: parquet files and `save_to_disk` Arrow
folders, with images embedded as `{bytes, path}` structs as the Hub stores them."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

from PIL import Image


def png_bytes(color: tuple[int, int, int], size: tuple[int, int] = (4, 4)) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", size, color).save(buf, format="PNG")
    return buf.getvalue()


def jpg_bytes(color: tuple[int, int, int]) -> bytes:
    buf = io.BytesIO()
    Image.new("RGB", (8, 8), color).save(buf, format="JPEG", quality=95)
    return buf.getvalue()


def _table(rows: list[dict[str, Any]]):
    import pyarrow as pa

    cols = {k: [r[k] for r in rows] for k in rows[0]}
    arrays = {}
    for k, values in cols.items():
        if isinstance(values[0], (bytes, bytearray)):  # an image column: {bytes, path} structs
            arrays[k] = pa.array([{"bytes": v, "path": None} for v in values],
                                 type=pa.struct([("bytes", pa.binary()), ("path", pa.string())]))
        else:
            arrays[k] = pa.array(values)
    return pa.table(arrays)


def write_parquet(path: Path, rows: list[dict[str, Any]]) -> Path:
    """One parquet file; `bytes` values become embedded image structs."""
    import pyarrow.parquet as pq

    path.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(_table(rows), str(path))
    return path


def write_saved_split(folder: Path, split: str, rows: list[dict[str, Any]]) -> Path:
    """A `DatasetDict.save_to_disk` layout: dataset_dict.json + <split>/data-00000-of-00001.arrow (Arrow stream)."""
    import pyarrow as pa

    folder.mkdir(parents=True, exist_ok=True)
    dd = folder / "dataset_dict.json"
    splits = json.loads(dd.read_text())["splits"] if dd.is_file() else []
    dd.write_text(json.dumps({"splits": sorted(set(splits) | {split})}))
    (folder / split).mkdir(exist_ok=True)
    (folder / split / "dataset_info.json").write_text("{}")
    table = _table(rows)
    with pa.OSFile(str(folder / split / "data-00000-of-00001.arrow"), "wb") as sink:
        with pa.ipc.new_stream(sink, table.schema) as writer:
            writer.write_table(table)
    return folder
