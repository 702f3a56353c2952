"""Helpers shared by the benchmark readers: locating files, validating fields and
turning per-item correctness flags into the results dict.

Kept here so each reader file holds only what is specific to its benchmark.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any, Iterable, Mapping, Sequence

import numpy as np

from eqvl.data.paths import resolve_data_path
from eqvl.data.records import ImageRef, ScoreItem
from eqvl.errors import DataError, EqvlError
from eqvl.io import read_jsonl, read_text
from eqvl.metrics import mean_of


def check_options(bench: str, options: Mapping[str, Any], valid: Iterable[str]) -> None:
    """An unknown reader option is a user error that names the valid ones."""
    valid = sorted(valid)
    unknown = sorted(set(options) - set(valid))
    if unknown:
        names = ", ".join(valid) if valid else "(none)"
        raise EqvlError(f"{bench}: unknown option(s) {', '.join(unknown)}; valid: {names}")


def chosen_subsets(bench: str, option: Any, valid: Sequence[str]) -> tuple[str, ...]:
    """The `subset=` option: comma-separated names, each one of `valid` (all of them when unset);
    an unknown name is a user error that lists the valid ones."""
    if not option:
        return tuple(valid)
    wanted = tuple(s.strip() for s in str(option).split(",") if s.strip())
    bad = [s for s in wanted if s not in valid]
    if bad:
        raise EqvlError(f"{bench}: unknown subset(s) {', '.join(bad)}; valid: {', '.join(valid)}")
    return wanted


def as_bool(value: Any, name: str) -> bool:
    """Options may come from the CLI as strings ("true", "0")."""
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off"}:
        return False
    raise EqvlError(f"option {name}: expected true/false, got {value!r}")


def find_file(data_dir: str | Path, names: Sequence[str], bench: str, layout: str) -> Path:
    """`--data` may be the file itself or a folder holding one of `names`."""
    data_dir = Path(data_dir)
    if data_dir.is_file():
        return data_dir
    if not data_dir.exists():
        raise DataError("no such file or folder", path=str(data_dir))
    for name in names:
        candidate = data_dir / name
        if candidate.is_file():
            return candidate
    raise layout_error(bench, data_dir, layout)


def layout_error(bench: str, data_dir: str | Path, layout: str) -> DataError:
    """Wrong layout: say what was expected, and which other benchmark the folder looks like."""
    from eqvl.benchmarks.base import looks_like  # at call time: base's registry imports the readers

    others = looks_like(data_dir, exclude=bench)
    hint = f" (it looks like a {' / '.join(others)} folder: --benchmark {others[0]})" if others else ""
    return DataError(f"not a {bench} folder{hint}; expected:\n{layout}", path=str(data_dir))


def text_field(obj: Mapping[str, Any], key: str, path: str | Path, line: int | None = None, where: str = "") -> str:
    """A required, non-empty caption-like string; errors name file, line/record and field."""
    field = f"{where}{key}" if where else key
    if key not in obj:
        raise DataError("missing required field", path=str(path), line=line, field=field)
    value = obj[key]
    if not isinstance(value, str):
        raise DataError(f"expected a string, got {type(value).__name__}", path=str(path), line=line, field=field)
    if not value.strip():
        raise DataError("empty string", path=str(path), line=line, field=field)
    return value


def record_id(obj: Mapping[str, Any], path: str | Path, line: int | None, seen: set[str], fallback: str | None = None) -> str:
    """The record's id (or `fallback`), refusing duplicates."""
    if "id" in obj:
        raw = obj["id"]
        if not isinstance(raw, (str, int)) or isinstance(raw, bool) or str(raw).strip() == "":
            raise DataError("id must be a non-empty string or integer", path=str(path), line=line, field="id")
        ident = str(raw)
    elif fallback is not None:
        ident = fallback
    else:
        raise DataError("missing required field", path=str(path), line=line, field="id")
    if ident in seen:
        raise DataError(f"duplicate id {ident!r}", path=str(path), line=line, field="id")
    seen.add(ident)
    return ident


def resolve(root: str | Path, rel: str) -> str:
    """Join a relative image path to its root; absolute paths stay as they are (eqvl.data.paths rules)."""
    return resolve_data_path(root, rel)


def image_ref(root: str | Path, rel: str, bbox: tuple[float, float, float, float] | None = None) -> ImageRef:
    return ImageRef(resolve(root, rel), bbox=bbox)


def stack_scores(scores: Sequence[np.ndarray], n_items: int, shape: tuple[int, int], bench: str) -> np.ndarray:
    """Stack per-item [captions, images] arrays into [N, c, i], checking count and shape."""
    if len(scores) != n_items:
        raise EqvlError(f"{bench}: got {len(scores)} score arrays for {n_items} items")
    if n_items == 0:
        return np.zeros((0,) + tuple(shape), dtype=np.float64)
    out = np.empty((n_items,) + tuple(shape), dtype=np.float64)
    for k, s in enumerate(scores):
        a = np.asarray(s, dtype=np.float64)
        if a.shape != tuple(shape):
            raise EqvlError(f"{bench}: item {k} has scores shaped {a.shape}, expected {tuple(shape)}")
        out[k] = a
    return out


def summarize(
    subsets: Sequence[str],
    flags: Mapping[str, np.ndarray],
    means: Mapping[str, np.ndarray] | None = None,
    order: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Overall and per-subset means of per-item flags (and per-item real values).

    `subsets[k]` names item k's subset. Subsets appear in first-seen order unless
    `order` is given. Each subset also records "n", its item count.
    """
    values = {**flags, **(means or {})}
    subsets_arr = np.asarray(list(subsets), dtype=object)
    names = list(OrderedDict.fromkeys(order if order is not None else subsets))
    metrics = {key: mean_of(v) for key, v in values.items()}
    per = {}
    for name in names:
        mask = subsets_arr == name
        if not mask.any():
            continue
        per[name] = {key: mean_of(np.asarray(v)[mask]) for key, v in values.items()}
        per[name]["n"] = int(mask.sum())
    return {"metrics": metrics, "subsets": per}


def group_means(keys: Sequence[str], flags: Mapping[str, np.ndarray]) -> dict[str, dict[str, Any]]:
    """Like summarize's subsets, for any grouping key (tags, relations...)."""
    return summarize(keys, flags)["subsets"]


def items_subsets(items: Sequence[ScoreItem]) -> list[str]:
    return [item.subset for item in items]


def read_json_keyed(path: str | Path) -> Any:
    """Like io.read_json, but a repeated key in an object is an error: files keyed by
    example id (SugarCrepe, VALSE) would otherwise silently lose the earlier example."""
    import json

    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path=str(path))

    def no_dupes(pairs: list[tuple[str, Any]]) -> dict:
        out: dict = {}
        for key, value in pairs:
            if key in out:
                raise DataError(f"duplicate key {key!r}", path=str(path), field=key)
            out[key] = value
        return out

    text = read_text(path)  # a BOM is accepted; bad bytes are named by line and byte offset
    try:
        return json.loads(text, object_pairs_hook=no_dupes)
    except json.JSONDecodeError as exc:
        raise DataError(f"malformed JSON: {exc.msg} (column {exc.colno})", path=str(path), line=exc.lineno) from None


def read_own_jsonl(path: Path, image_keys: Sequence[str], caption_keys: Sequence[str]) -> list[ScoreItem]:
    """eqvl's own formats (twins, foils, triplets): `{"id", "subset", *image_keys, *caption_keys}`.

    Images and captions keep the order of their keys; paths are relative to the file's folder;
    unknown fields travel in `ScoreItem.meta`.
    """
    known = {"id", "subset", *image_keys, *caption_keys}
    root = path.parent
    items: list[ScoreItem] = []
    seen: set[str] = set()
    for line, obj in read_jsonl(path):
        ident = record_id(obj, path, line, seen)
        subset = obj.get("subset", "all")
        if not isinstance(subset, str) or not subset.strip():
            raise DataError("subset must be a non-empty string", path=str(path), line=line, field="subset")
        images = [image_ref(root, text_field(obj, key, path, line)) for key in image_keys]
        captions = [text_field(obj, key, path, line) for key in caption_keys]
        extra = {k: v for k, v in obj.items() if k not in known}
        items.append(ScoreItem(id=ident, images=images, captions=captions, subset=subset, meta=extra))
    if not items:
        raise DataError("no records", path=str(path))
    return items
