"""Winoground-shaped records (two images, two captions; caption k belongs to image k) from a JSON
list or a local Hugging Face table copy, for the readers that share that shape (ColorSwap, BiVLC,
NaturalBench-Retrieval, VisMin, COLA).

Each reader says which fields hold the images, captions, id and subset; this module turns rows
into `ScoreItem`s whose errors name file, record and field.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable, Iterator

from eqvl.benchmarks import hf_tables
from eqvl.benchmarks._common import check_options, layout_error, text_field
from eqvl.benchmarks.base import BenchmarkData
from eqvl.data.records import ImageRef, ScoreItem
from eqvl.errors import DataError


@dataclass(frozen=True)
class TwinFields:
    """Field names of one benchmark's records. `subset` may be a callable building the subset from the record."""

    images: tuple[str, str]
    captions: tuple[str, str]
    subset: str | Callable[[dict[str, Any], str], str] | None = None
    id: str | None = None
    keep: tuple[str, ...] = ()  # extra fields carried in the item's meta


def json_records(path: Path, data: Any) -> Iterator[tuple[Path, str, dict[str, Any]]]:
    """(file, "record k", record) for a JSON list of objects; anything else names the file."""
    if not isinstance(data, list):
        raise DataError(f"expected a JSON list of records, got {type(data).__name__}", path=str(path))
    for k, rec in enumerate(data):
        if not isinstance(rec, dict):
            raise DataError(f"record {k}: expected an object, got {type(rec).__name__}", path=str(path), field=f"[{k}]")
        yield path, str(k), rec


def table_records(files: list[Path], columns: Iterable[str]) -> Iterator[tuple[Path, str, dict[str, Any]]]:
    for path, k, row in hf_tables.read_table_rows(files, list(dict.fromkeys(columns))):
        yield path, str(k), row


def twin_items(records: Iterable[tuple[Path, str, dict[str, Any]]], fields: TwinFields,
               image_path: Callable[[Any, Path, str], str], id_prefix: str = "") -> list[ScoreItem]:
    """ScoreItems (captions [c0, c1] x images [i0, i1]) from records; ids must be unique.

    `image_path(value, file, field)` turns an image cell into a path (a relative name, or a
    Hugging Face `{bytes, path}` struct)."""
    items: list[ScoreItem] = []
    seen: set[str] = set()
    for path, k, rec in records:
        where = f"[{k}]."
        ident = f"{id_prefix}{_ident(rec, fields.id, path, where, k)}"
        if ident in seen:
            raise DataError(f"record {k}: duplicate id {ident!r}", path=str(path), field=f"{where}{fields.id}")
        seen.add(ident)
        captions = [text_field(rec, key, path, where=where) for key in fields.captions]
        images = []
        for key in fields.images:
            if rec.get(key) in (None, ""):
                raise DataError(f"record {k}: missing image", path=str(path), field=f"{where}{key}")
            images.append(ImageRef(image_path(rec[key], path, f"{where}{key}")))
        subset = _subset(rec, fields.subset, path, where)
        meta = {key: rec.get(key) for key in fields.keep}
        items.append(ScoreItem(id=ident, images=images, captions=captions, subset=subset, meta=meta))
    return items


def _ident(rec: dict[str, Any], key: str | None, path: Path, where: str, k: str) -> str:
    if key is None or key not in rec:
        return k
    raw = rec[key]
    if isinstance(raw, bool) or not isinstance(raw, (str, int)) or str(raw).strip() == "":
        raise DataError("id must be a non-empty string or integer", path=str(path), field=f"{where}{key}")
    return str(raw)


def _subset(rec: dict[str, Any], how: Any, path: Path, where: str) -> str:
    if how is None:
        return "all"
    if callable(how):
        return how(rec, f"{path} {where}")
    return text_field(rec, how, path, where=where)


def cell_path(extract_dir: Path, base: Path) -> Callable[[Any, Path, str], str]:
    """The usual `image_path`: strings are relative to `base`, embedded bytes go to `extract_dir`."""

    def resolve(value: Any, path: Path, where: str) -> str:
        return hf_tables.image_file(value, extract_dir, base, where, path)

    return resolve


def load_twin_table(bench: Any, data_dir: Path, options: dict[str, Any], columns: Iterable[str],
                    fields: TwinFields) -> BenchmarkData:
    """A Hub copy (parquet or save_to_disk, images embedded) of a 2x2 twin benchmark -> its items:
    the `split` (default test) of `data_dir`, embedded images written once under `extract_dir`.
    Shared by the readers whose files are such tables (BiVLC, VisMin)."""
    check_options(bench.name, options, ["split", "extract_dir"])
    data_dir = Path(data_dir)
    if not data_dir.exists():
        raise DataError("no such file or folder", path=str(data_dir))
    if not hf_tables.is_table_copy(data_dir) or not bench.detect(data_dir):
        raise layout_error(bench.name, data_dir, bench.layout)
    split = str(options.get("split") or "test")
    files = hf_tables.table_files(data_dir, split)
    if not files:
        raise DataError(f"no {split} split in this dataset copy (parquet {split}-*.parquet or save_to_disk {split}/)",
                        path=str(data_dir))
    folder = data_dir if data_dir.is_dir() else data_dir.parent
    extract = Path(options.get("extract_dir") or folder / hf_tables.EXTRACT_DIRNAME)
    items = twin_items(table_records(files, columns), fields, cell_path(extract, folder))
    if not items:
        raise DataError("no records", path=str(files[0]))
    return BenchmarkData(items=items, meta={"source": str(data_dir), "split": split})

