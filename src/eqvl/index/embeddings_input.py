"""`eqvl index build --embeddings`: index embeddings made elsewhere, without re-encoding.

The layout clip-retrieval's inference writes: `img_emb/img_emb_<n>.npy` (float rows) beside
`metadata/metadata_<n>.parquet` (one row per embedding, same order: `image_path`, `caption`, ...)
and, when captions were embedded too, `text_emb/text_emb_<n>.npy`. `--embeddings` takes that root
folder, a folder of `.npy` files, or one `.npy`; `--metadata` a parquet or CSV file or a folder of
them (default: the root's `metadata/`). Files pair up in natural order (img_emb_2 before img_emb_10).
Rows are L2-normalised as eqvl's encoders return them. The model is named by --model/--pretrained
and its identity goes into the manifest, so queries are checked against it as for any index;
the embeddings' dimension must be the model's. Content hashes: the image file's bytes when the
path is a local file (so a later `add` of the same image is recognised), else a hash of the path.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Iterator

import numpy as np

from eqvl.data.paths import resolve_data_path
from eqvl.errors import DataError, EqvlError
from eqvl.index import vectors as vec
from eqvl.index.sources import RESERVED, Item, SourceFormat

if TYPE_CHECKING:
    from eqvl.models.base import Encoder

#: rows per vector shard written into the index
SHARD_ROWS = 100_000
PATH_KEYS = ("image_path", "filepath", "url")
CAPTION_KEYS = ("caption", "title", "text")


@dataclass
class EmbeddingInput:
    """The embedding files (in order, with their row counts), the items, and query embeddings if given."""

    files: list[Path]
    counts: list[int]
    dim: int
    items: list[Item]
    text_emb: np.ndarray | None = None


def _natural(path: Path) -> list[Any]:
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", path.name)]


def _listing(path: Path, suffixes: tuple[str, ...], param: str) -> list[Path]:
    if path.is_file():
        return [path]
    if not path.is_dir():
        raise EqvlError(f"`{param}` {path}: no such file or folder", params=(param,))
    found = sorted((p for p in path.iterdir() if p.is_file() and p.suffix.lower() in suffixes), key=_natural)
    if not found:
        raise EqvlError(f"`{param}` {path}: no {' / '.join(suffixes)} files in the folder", params=(param,))
    return found


def read_embedding_input(embeddings: str | os.PathLike, metadata: str | os.PathLike | None = None,
                         fmt: SourceFormat | None = None) -> EmbeddingInput:
    """Check and pair the embedding and metadata files (nothing is loaded but their headers)."""
    root = Path(embeddings)
    emb_dir = root / "img_emb" if (root / "img_emb").is_dir() else root
    if metadata is None:
        if not (root / "metadata").is_dir():
            raise EqvlError(f"`embeddings` {root}: give `metadata` (no metadata/ folder beside img_emb/)", params=("embeddings", "metadata"))
        metadata = root / "metadata"
    files = _listing(emb_dir, (".npy",), "embeddings")
    counts, dim = [], 0
    for f in files:
        try:
            arr = np.load(f, mmap_mode="r")
        except (OSError, ValueError) as exc:
            raise DataError(f"not a readable .npy array ({exc})", path=str(f)) from None
        if arr.ndim != 2 or (dim and arr.shape[1] != dim) or not np.issubdtype(arr.dtype, np.floating):
            raise DataError(f"expected float rows of dimension {dim or 'd'}, got {arr.dtype} {arr.shape}", path=str(f))
        dim = int(arr.shape[1])
        counts.append(int(arr.shape[0]))
    meta_files = _listing(Path(metadata), (".parquet", ".csv", ".tsv"), "metadata")
    items = _read_items(meta_files, fmt or SourceFormat(img_key="image_path", caption_key="caption", separator=","),
                        files, counts)
    text_dir = root / "text_emb"
    text_emb = None
    if text_dir.is_dir() and any(text_dir.glob("*.npy")):
        text_emb = np.concatenate([np.load(f) for f in _listing(text_dir, (".npy",), "embeddings")])
    return EmbeddingInput(files, counts, dim, items, text_emb)


def _table(path: Path, fmt: SourceFormat) -> tuple[list[str], Iterator[tuple[str, dict[str, Any]]]]:
    """(columns, (where, row) pairs) of one parquet or CSV metadata file."""
    if path.suffix.lower() == ".parquet":
        try:
            import pyarrow.parquet as pq
        except ImportError:
            raise EqvlError("reading parquet metadata needs pyarrow: pip install 'eqvl[serve]'") from None
        try:
            table = pq.read_table(path)
        except Exception as exc:  # pyarrow raises its own error types for a broken file
            raise DataError(f"not a readable parquet file ({str(exc)[:200]})", path=str(path)) from None
        cols = list(table.column_names)
        return cols, ((f"{path}:row {n + 1}", row) for n, row in enumerate(table.to_pylist()))
    from eqvl.io import read_csv_rows

    rows = list(read_csv_rows(path, sep="\t" if path.suffix.lower() == ".tsv" else fmt.separator))
    cols = list(rows[0][1]) if rows else []
    return cols, ((f"{path}:{line}", row) for line, row in rows)


def _read_items(meta_files: list[Path], fmt: SourceFormat, emb_files: list[Path], counts: list[int]) -> list[Item]:
    items: list[Item] = []
    per_file: list[int] = []
    seen: dict[str, str] = {}
    for path in meta_files:
        cols, rows = _table(path, fmt)
        key = next((k for k in (fmt.img_key, *PATH_KEYS) if k in cols), None)
        if key is None:
            raise DataError(f"no image path column ({', '.join(dict.fromkeys((fmt.img_key, *PATH_KEYS)))}); "
                            f"columns: {', '.join(cols)}", path=str(path))
        cap = next((k for k in (fmt.caption_key, *CAPTION_KEYS) if k in cols), None)
        before = len(items)
        for where, row in rows:
            value = str(row.get(key) or "").strip()
            if not value:
                raise DataError("empty image path", path=where, field=key)
            full = value if "://" in value else os.path.abspath(resolve_data_path(path.parent, value))
            if full in seen:
                raise DataError(f"duplicate image path {full} (first listed at {seen[full]})", path=where)
            seen[full] = where
            extra = {c: "" if v is None else str(v) for c, v in row.items() if c not in (key, cap)}
            bad = next((c for c in extra if c in RESERVED), None)
            if bad:
                raise DataError(f"column {bad!r} is reserved by the index (id, path, caption, hash); rename it", path=where)
            items.append(Item(full, str(row.get(cap) or "") if cap else "", extra, where))
        per_file.append(len(items) - before)
    if sum(per_file) != sum(counts):
        raise DataError(f"{sum(per_file)} metadata rows for {sum(counts)} embeddings"
                        + (f" ({meta_files[0].name}: {per_file[0]} rows, {emb_files[0].name}: {counts[0]})"
                           if len(per_file) == len(counts) else ""), path=str(meta_files[0].parent))
    if len(per_file) == len(counts):
        for m, e, a, b in zip(meta_files, emb_files, per_file, counts):
            if a != b:
                raise DataError(f"{a} metadata rows but {e.name} has {b} embeddings (files pair in order)", path=str(m))
    if not items:
        raise DataError("no rows (empty input)", path=str(meta_files[0]))
    return items


def content_hashes(items: list[Item]) -> list[str]:
    """The image's content key for local files (as `index build --images` hashes them), else the path's hash."""
    from eqvl.index.embedding import hash_items

    local = [i for i, it in enumerate(items) if "://" not in it.path and os.path.isfile(it.path)]
    hashes, _ = hash_items([items[i] for i in local])
    out = ["path:" + hashlib.blake2b(it.path.encode(), digest_size=16).hexdigest() for it in items]
    for i, h in zip(local, hashes):
        if h is not None:
            out[i] = h
    return out


def write_shards(inp: EmbeddingInput, vec_dir: Path) -> list[dict[str, Any]]:
    """Normalised float16 shards of every embedding file, and one note per shard (embed_rank's format)."""
    hashes = content_hashes(inp.items)
    notes, start = [], 0
    for f, count in zip(inp.files, inp.counts):
        arr = np.load(f, mmap_mode="r")
        for lo in range(0, count, SHARD_ROWS):
            rows = np.asarray(arr[lo : lo + SHARD_ROWS], dtype=np.float32)
            norms = np.linalg.norm(rows, axis=1)
            broken = np.nonzero(~np.isfinite(norms) | (norms == 0))[0]
            if len(broken):
                raise DataError(f"embedding row {lo + int(broken[0])} is zero or not finite", path=str(f))
            stem = vec.new_stem()
            vec.write_vectors(vec_dir, stem, rows / norms[:, None])
            first = start + lo
            notes.append({"rank": 0, "world": 1, "start": first, "stem": stem, "dim": inp.dim,
                          "hashes": hashes[first : first + len(rows)], "rows": list(range(first, first + len(rows))),
                          "bad": {}, "known": 0, "duplicates": 0})
        start += count
    return notes


def build_index(root: str | os.PathLike, inp: EmbeddingInput, encoder: Encoder, model: dict[str, Any],
                index: Any = "auto", overwrite: bool = False, probe_text: str = "a photo"):
    """Write a new index at `root` from `inp`; `model` (core.model_info of `encoder`) goes into the manifest.
    The embeddings must have the model's dimension (`probe_text` is embedded to find it)."""
    from eqvl.encode import EncodeConfig, encode_texts
    from eqvl.index.core import check_output
    from eqvl.index.writer import write_embedded

    root = check_output(root, overwrite)
    model_dim = int(encode_texts(encoder, [probe_text], EncodeConfig(progress=False)).emb.shape[1])
    if model_dim != inp.dim:
        raise EqvlError(f"`embeddings` have dimension {inp.dim}, but {model.get('name')} embeds into {model_dim}: "
                        "give the model that made them (`model` / `pretrained`)", params=("embeddings", "model", "pretrained"))
    return write_embedded(root, model, inp.items, lambda vec_dir: write_shards(inp, vec_dir), index)
