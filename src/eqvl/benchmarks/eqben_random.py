"""EqBen's shuffled leaderboard file (`ann_json_finegrained_random.json`): its {image, caption} rows
regrouped into items so that every row gets a score, and, with the evaluator's answer key
(private_info.json + private_random_idx.json), oriented into real twins."""

from __future__ import annotations

from collections import OrderedDict, defaultdict
from pathlib import Path
from typing import Callable

from eqvl.benchmarks._common import text_field
from eqvl.benchmarks.eqben_names import SUBSET_ORDER, prefix_subset, subset_name
from eqvl.data.records import ImageRef, ScoreItem
from eqvl.errors import DataError, EqvlError
from eqvl.io import read_json

Resolver = Callable[[str], ImageRef]


def read_random(path: Path, resolve: Resolver) -> tuple[list[ScoreItem], list[tuple[int, int, int]], dict[str, int]]:
    """Regroup the shuffled {image, caption} rows into items covering every row.

    A twin contributes 4 rows: both its images paired with both its captions. So images
    whose caption set is the same 2 captions (within one subset) are paired, in path
    order, into a 2x2 item. Anything else (an image in several twins, an odd one out)
    becomes a 1-image item with all its captions. Which caption belongs to which image
    is not in this file, so the items carry no orientation and give no metrics.
    Returns the items, each official row's (item, caption, image) cell and rows per subset.
    """
    ann = read_json(path)
    if not isinstance(ann, list):
        raise DataError(f"expected a JSON list of {{image, caption}}, got {type(ann).__name__}", path=str(path))
    by_image: "OrderedDict[str, OrderedDict[str, None]]" = OrderedDict()
    rows: list[tuple[str, str]] = []
    for k, rec in enumerate(ann):
        if not isinstance(rec, dict):
            raise DataError("expected an object {image, caption}", path=str(path), field=f"[{k}]")
        image = text_field(rec, "image", path, where=f"[{k}].")
        caption = text_field(rec, "caption", path, where=f"[{k}].")
        rows.append((image, caption))
        by_image.setdefault(image, OrderedDict())[caption] = None
    if not rows:
        raise DataError("no rows", path=str(path))

    buckets: dict[tuple[str, frozenset], list[str]] = defaultdict(list)
    singles: list[str] = []
    for image, caps in by_image.items():
        if len(caps) == 2:
            buckets[(prefix_subset(image), frozenset(caps))].append(image)
        else:
            singles.append(image)
    items: list[ScoreItem] = []
    cell: dict[tuple[str, str], tuple[int, int, int]] = {}

    def add(images: list[str], captions: list[str], subset: str) -> None:
        idx = len(items)
        for ci, c in enumerate(captions):
            for ii, im in enumerate(images):
                cell[(im, c)] = (idx, ci, ii)
        items.append(ScoreItem(id=f"pairs/{idx}", images=[resolve(im) for im in images], captions=captions, subset=subset, meta={"oriented": False}))

    for (subset, _), images in buckets.items():
        images = sorted(images)
        captions = list(by_image[images[0]])
        for a in range(0, len(images) - 1, 2):
            add(images[a : a + 2], captions, subset)
        if len(images) % 2:
            singles.append(images[-1])
    for image in singles:
        add([image], list(by_image[image]), prefix_subset(image))
    official = [cell[row] for row in rows]
    counts: dict[str, int] = OrderedDict()
    for image, _ in rows:
        sub = prefix_subset(image)
        counts[sub] = counts.get(sub, 0) + 1
    return items, official, counts


_CELLS = {"c0i0": (0, 0), "c0i1": (0, 1), "c1i0": (1, 0), "c1i1": (1, 1)}


def _subset_rank(dataset: str) -> int:
    """Where a dataset's subset comes in the official order (unknown ones last)."""
    name = subset_name(dataset)
    return SUBSET_ORDER.index(name) if name is not None and name in SUBSET_ORDER else 99


def read_random_oriented(path: Path, info_path: Path, idx_path: Path, resolve: Resolver) -> tuple[list[ScoreItem], list[tuple[int, int, int]], dict[str, int]]:
    """The shuffled rows oriented with the evaluator's key, as `evaluate_eqben_locally.py`
    reads it: row r of the shuffled file is entry private_random_idx[r] of private_info,
    which names its subset (`dataset`), its twin (`sample_cnt`) and its cell (`name`:
    c0i0 = caption 0 with image 0, ...). With it the leaderboard file yields real metrics."""
    ann = read_json(path)
    info = read_json(info_path)
    idx = read_json(idx_path)
    if not isinstance(ann, list) or not isinstance(info, list) or not isinstance(idx, list):
        raise DataError("expected JSON lists", path=str(info_path))
    if not (len(ann) == len(info) == len(idx)):
        raise DataError(f"{len(ann)} shuffled rows, {len(info)} private_info entries and {len(idx)} indices; they must match",
                        path=str(info_path))
    twins: "OrderedDict[tuple[str, int], dict[str, tuple[int, str, str]]]" = OrderedDict()
    for r, rec in enumerate(ann):
        if not isinstance(rec, dict):
            raise DataError("expected an object {image, caption}", path=str(path), field=f"[{r}]")
        image = text_field(rec, "image", path, where=f"[{r}].")
        caption = text_field(rec, "caption", path, where=f"[{r}].")
        p = idx[r]
        if not isinstance(p, int) or not 0 <= p < len(info):
            raise DataError(f"index {p!r} out of range", path=str(idx_path), field=f"[{r}]")
        entry = info[p]
        if not isinstance(entry, dict) or entry.get("name") not in _CELLS or "dataset" not in entry or "sample_cnt" not in entry:
            raise DataError("expected {dataset, name: c0i0|c0i1|c1i0|c1i1, sample_cnt}", path=str(info_path), field=f"[{p}]")
        cells = twins.setdefault((str(entry["dataset"]), int(entry["sample_cnt"])), {})
        if entry["name"] in cells:
            raise DataError(f"twin {entry['sample_cnt']} of {entry['dataset']} has cell {entry['name']} twice", path=str(info_path), field=f"[{p}]")
        cells[entry["name"]] = (r, image, caption)
    items: list[ScoreItem] = []
    official: dict[int, tuple[int, int, int]] = {}  # shuffled row -> (item, caption, image); every row is in a twin
    counts: dict[str, int] = OrderedDict()
    order = sorted(twins, key=lambda k: (_subset_rank(k[0]), k))
    for dataset, cnt in order:
        cells = twins[(dataset, cnt)]
        if len(cells) != 4:
            raise DataError(f"twin {cnt} of {dataset} has {len(cells)} of its 4 rows", path=str(info_path))
        img0, img1 = cells["c0i0"][1], cells["c1i1"][1]
        cap0, cap1 = cells["c0i0"][2], cells["c1i1"][2]
        for name, (r, image, caption) in cells.items():
            c, i = _CELLS[name]
            if image != (img0, img1)[i] or caption != (cap0, cap1)[c]:
                raise DataError(f"row {r} ({name} of twin {cnt}) disagrees with the twin's other rows", path=str(path), field=f"[{r}]")
            official[r] = (len(items), c, i)
        subset = subset_name(dataset) or dataset
        counts[subset] = counts.get(subset, 0) + 4
        items.append(ScoreItem(id=f"{subset}/{cnt}", images=[resolve(img0), resolve(img1)], captions=[cap0, cap1], subset=subset))
    return items, [official[r] for r in range(len(ann))], counts


def find_key_files(folder: Path, options: dict) -> tuple[Path, Path] | None:
    """private_info.json + private_random_idx.json, given as options or found beside the file (or in src_file/)."""
    if options.get("private_info") or options.get("private_idx"):
        if not (options.get("private_info") and options.get("private_idx")):
            raise EqvlError("eqben: private_info= and private_idx= go together")
        return Path(options["private_info"]), Path(options["private_idx"])
    for base in (folder, folder / "src_file"):
        if (base / "private_info.json").is_file() and (base / "private_random_idx.json").is_file():
            return base / "private_info.json", base / "private_random_idx.json"
    return None
