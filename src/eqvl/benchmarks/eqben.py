"""EqBen: visual-minimal-change twins from videos (AG, YouCook2, GEBC) and synthetic
engines (Kubric, SD), scored with Winoground's text / image / group metrics.

Three official layouts are read (auto-detected in the `--data` folder, or forced with
`layout=`):

* ``subsets``  - per-subset annotation files (AG nested video -> subject -> list with
  caption lists; YouCook2 / GEBC video -> list; Kubric / SD flat lists);
* ``winoground`` - the public Winoground-style annotation (full `private_info_global.json`
  or the 10% `eqben_subset_10percent_final.json`): a list of {image0, image1, caption0,
  caption1};
* ``random`` - the shuffled leaderboard list `ann_json_finegrained_random.json` of
  {image, caption} pairs. Its ground truth is hidden, so it yields no metrics: its rows
  are regrouped into 2x2 items only so that every (image, caption) pair gets scored,
  and `export_official_scores` writes them back in the official row order
  (its readers: `eqben_random.py`; subset names: `eqben_names.py`).
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from eqvl.benchmarks._common import check_options, layout_error, stack_scores, text_field
from eqvl.benchmarks.base import Benchmark, BenchmarkData, register_benchmark
from eqvl.benchmarks.eqben_names import OFFICIAL_SUBSETS, SUBSET_ORDER, prefix_subset, subset_name
from eqvl.benchmarks.eqben_random import find_key_files, read_random, read_random_oriented
from eqvl.benchmarks.twins import twin_results
from eqvl.data.paths import resolve_data_path
from eqvl.data.records import ImageRef, ScoreItem
from eqvl.errors import DataError, EqvlError
from eqvl.io import read_json

RANDOM_FILE = "ann_json_finegrained_random.json"
WINOGROUND_FILES = ("private_info_global.json", "eqben_subset_10percent_final.json")
#: official subset folder / dataset names -> eqvl subset names (reporting order)
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".npy")


class _ImageResolver:
    """Resolves annotation paths; the light release ships .jpg where the annotation says
    .png (and vice versa), so a missing file is retried with the other suffix. The choice
    is cached per folder and suffix so large annotations do not stat every file twice."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._swap: dict[tuple[str, str], str | None] = {}

    def __call__(self, rel: str) -> ImageRef:
        path = Path(resolve_data_path(self.root, rel))
        suffix = path.suffix.lower()
        if suffix not in (".png", ".jpg", ".jpeg"):
            return ImageRef(str(path))
        key = (str(path.parent), suffix)
        if key not in self._swap:
            self._swap[key] = None
            if not path.exists():
                for alt in _IMAGE_SUFFIXES[:3]:
                    if alt != suffix and path.with_suffix(alt).exists():
                        self._swap[key] = alt
                        break
        swap = self._swap[key]
        return ImageRef(str(path.with_suffix(swap) if swap else path))


def _twin(rec: Any, path: Path, where: str, resolve: _ImageResolver, subset: str, ident: str, lists: bool = False) -> ScoreItem:
    if not isinstance(rec, dict):
        raise DataError(f"expected an object with image0/image1/caption0/caption1, got {type(rec).__name__}", path=str(path), field=where)
    keys = ("image0", "image1", "caption0", "caption1")
    if "image_0" in rec and "image0" not in rec:  # Winoground spelling
        keys = ("image_0", "image_1", "caption_0", "caption_1")
    images = [resolve(text_field(rec, k, path, where=f"{where}.")) for k in keys[:2]]
    captions = []
    for k in keys[2:]:
        value = rec.get(k)
        if isinstance(value, list):  # AG: caption lists, first caption used (as the official loader)
            if not value:
                raise DataError("empty caption list", path=str(path), field=f"{where}.{k}")
            captions.append(text_field({k: value[0]}, k, path, where=f"{where}."))
        else:
            captions.append(text_field(rec, k, path, where=f"{where}."))
    return ScoreItem(id=ident, images=images, captions=captions, subset=subset)


def read_subset_file(path: Path, subset: str, resolve: _ImageResolver) -> list[ScoreItem]:
    """Any of the per-subset shapes: nested dict (AG), dict of lists (YouCook2/GEBC), flat list."""
    ann = read_json(path)
    items: list[ScoreItem] = []
    if isinstance(ann, list):
        for k, rec in enumerate(ann):
            items.append(_twin(rec, path, f"[{k}]", resolve, subset, f"{subset}/{k}"))
    elif isinstance(ann, dict):
        for video, value in ann.items():
            if isinstance(value, list):
                groups = [(f"[{video!r}]", value)]
            elif isinstance(value, dict):
                groups = [(f"[{video!r}][{subj!r}]", recs) for subj, recs in value.items()]
            else:
                raise DataError(f"expected a list or an object per video, got {type(value).__name__}", path=str(path), field=f"[{video!r}]")
            for where, recs in groups:
                if not isinstance(recs, list):
                    raise DataError(f"expected a list of twins, got {type(recs).__name__}", path=str(path), field=where)
                for k, rec in enumerate(recs):
                    items.append(_twin(rec, path, f"{where}[{k}]", resolve, subset, f"{subset}/{len(items)}"))
    else:
        raise DataError(f"expected a JSON list or object, got {type(ann).__name__}", path=str(path))
    if not items:
        raise DataError("no twins", path=str(path))
    return items


def read_winoground_style(path: Path, resolve: _ImageResolver) -> list[ScoreItem]:
    """The public list of {image0, image1, caption0, caption1}; subset from the image path's
    first folder (eqbenag/...) or a `dataset`/`subset` field when present."""
    ann = read_json(path)
    if not isinstance(ann, list):
        raise DataError(f"expected a JSON list of twins, got {type(ann).__name__}", path=str(path))
    items = []
    for k, rec in enumerate(ann):
        item = _twin(rec, path, f"[{k}]", resolve, "all", str(k))
        tag = rec.get("dataset") or rec.get("subset")
        name = subset_name(tag) if isinstance(tag, str) else None
        first = rec.get("image0", rec.get("image_0"))
        item.subset = name or prefix_subset(first)
        if "id" in rec:
            item.id = str(rec["id"])
        items.append(item)
    if not items:
        raise DataError("no twins", path=str(path))
    return items


def _default_image_root(data_dir: Path) -> Path:
    for name in ("image", "images", "image_subset", "subset_image"):
        if (data_dir / name).is_dir():
            return data_dir / name
    return data_dir


def _sniff(path: Path) -> str:
    """Tell the layout of one JSON file from its name, or failing that its content."""
    if path.name == RANDOM_FILE:
        return "random"
    if path.name in WINOGROUND_FILES:
        return "winoground"
    ann = read_json(path)
    if isinstance(ann, list) and ann and isinstance(ann[0], dict):
        if "image" in ann[0] and "caption" in ann[0]:
            return "random"
        if subset_name(path.stem) is None:
            return "winoground"
    return "subsets"


@register_benchmark("eqben")
class EqBenBenchmark(Benchmark):
    layout = (
        "a folder with one of (auto-detected; force with layout=subsets|winoground|random):\n"
        "  subsets:    per-subset JSONs named after the subset (eqbenag.json / ag.json: {video: {subject: [{image0, image1,\n"
        "              caption0: [..], caption1: [..]}]}}; youcook2.json, gebc.json: {video: [{image0, image1, caption0, caption1}]};\n"
        "              kubric_loc.json, kubric_cnt.json, kubric_attr.json, sd.json: [{image0, image1, caption0, caption1}])\n"
        "  winoground: private_info_global.json or eqben_subset_10percent_final.json: [{image0, image1, caption0, caption1}]\n"
        f"  random:     {RANDOM_FILE}: [{{image: '<subset>/<path>', caption}}] (scores for --export-official-scores; metrics\n"
        "              too when private_info.json + private_random_idx.json lie beside it or in src_file/)\n"
        "  images under image_root= (default: <data>/image, <data>/images or <data>); YouCook2 frames are BGR .npy"
    )
    OPTIONS = ("layout", "subset", "image_root", "private_info", "private_idx")
    reads_subsets = True

    def load(self, data_dir: Path, **options: Any) -> BenchmarkData:
        check_options(self.name, options, self.OPTIONS)
        data_dir = Path(data_dir)
        if not data_dir.exists():
            raise DataError("no such file or folder", path=str(data_dir))
        folder = data_dir if data_dir.is_dir() else data_dir.parent
        root = Path(options["image_root"]) if options.get("image_root") else _default_image_root(folder)
        want = options.get("layout")
        if want not in (None, "subsets", "winoground", "random"):
            raise EqvlError(f"eqben: layout must be subsets, winoground or random, got {want!r}")
        layout, files = self._detect(data_dir, want)
        resolve = _ImageResolver(root)
        meta: dict[str, Any] = {"layout": layout, "sources": [str(f) for f in files], "image_root": str(root)}
        if layout == "random":
            key = find_key_files(folder, options)
            if key is not None:
                items, official, counts = read_random_oriented(files[0], key[0], key[1], resolve)
                meta["answer_key"] = [str(k) for k in key]
            else:
                items, official, counts = read_random(files[0], resolve)
            meta.update(official_rows=official, official_item_ids=[it.id for it in items], rows_per_subset=counts,
                        oriented=key is not None)
        elif layout == "winoground":
            items = read_winoground_style(files[0], resolve)
        else:
            items = []
            for path, name in files:
                sub_root = root / next((k for k, v in OFFICIAL_SUBSETS.items() if v == name), name)
                sub_resolve = _ImageResolver(sub_root) if sub_root.is_dir() else resolve
                items.extend(read_subset_file(path, name, sub_resolve))
            meta["sources"] = [str(p) for p, _ in files]
        if options.get("subset"):
            keep = {s.strip() for s in str(options["subset"]).split(",") if s.strip()}
            unknown = keep - set(SUBSET_ORDER) - {"all"}
            if unknown:
                raise EqvlError(f"eqben: unknown subset(s) {', '.join(sorted(unknown))}; valid: {', '.join(SUBSET_ORDER)}")
            if layout == "random":
                raise EqvlError("eqben: subset= cannot be used with the random layout (the official export needs every row)")
            items = [it for it in items if it.subset in keep]
            if not items:
                raise DataError(f"no twins in subset(s) {', '.join(sorted(keep))}", path=str(data_dir))
        return BenchmarkData(items=items, meta=meta)

    def _detect(self, data_dir: Path, want: str | None) -> tuple[str, list]:
        if data_dir.is_file():
            layout = want or _sniff(data_dir)
            if layout == "subsets":
                name = subset_name(data_dir.stem)
                if name is None:
                    raise DataError(f"cannot tell the EqBen subset from the file name; expected one of {', '.join(SUBSET_ORDER)}", path=str(data_dir))
                return layout, [(data_dir, name)]
            return layout, [data_dir]
        found: dict[str, list] = {"random": [], "winoground": [], "subsets": []}
        if (data_dir / RANDOM_FILE).is_file():
            found["random"].append(data_dir / RANDOM_FILE)
        for name in WINOGROUND_FILES:
            if (data_dir / name).is_file():
                found["winoground"].append(data_dir / name)
        for path in sorted(data_dir.glob("*.json")):
            name = subset_name(path.stem)
            if name is not None and path.name not in WINOGROUND_FILES and path.name != RANDOM_FILE:
                found["subsets"].append((path, name))
        found["subsets"].sort(key=lambda pn: SUBSET_ORDER.index(pn[1]))
        order = [want] if want else ["subsets", "winoground", "random"]
        for layout in order:
            if found[layout]:
                return layout, found[layout]
        raise layout_error(self.name, data_dir, self.layout)

    def evaluate(self, data: BenchmarkData, scores: list[np.ndarray]) -> dict[str, Any]:
        if data.meta.get("layout") == "random" and not data.meta.get("oriented"):
            if len(scores) != len(data.items):
                raise EqvlError(f"{self.name}: got {len(scores)} score arrays for {len(data.items)} items")
            counts = data.meta.get("rows_per_subset", {})
            return {
                "metrics": {},
                "subsets": {name: {"n": n} for name, n in counts.items()},
                "note": "the shuffled leaderboard file hides which caption matches which image: no metrics; "
                "use --export-official-scores and evaluate_eqben_locally.py, or put private_info.json + "
                "private_random_idx.json beside it",
            }
        s = stack_scores(scores, len(data.items), (2, 2), self.name)
        subsets = [it.subset for it in data.items]
        order = [n for n in SUBSET_ORDER if n in subsets] + [n for n in OrderedDict.fromkeys(subsets) if n not in SUBSET_ORDER]
        out = twin_results(subsets, s, order=order)
        kub = [n for n in order if n.startswith("kubric_")]
        if kub:
            out["kubric"] = {n.removeprefix("kubric_"): out["subsets"][n] for n in kub}
        return out

    def export_official_scores(self, data: BenchmarkData, scores: list[np.ndarray]) -> np.ndarray:
        """One score per row of ann_json_finegrained_random.json, in its order (eqben_scores.npy)."""
        rows = data.meta.get("official_rows")
        if rows is None:
            raise EqvlError(f"eqben: the official score export needs the shuffled layout ({RANDOM_FILE}); this data is layout {data.meta.get('layout')!r}")
        if len(scores) != len(data.items):
            raise EqvlError(f"eqben: got {len(scores)} score arrays for {len(data.items)} items")
        # rows name items by id: after --skip-bad the item list is shorter than at load time
        position = {item.id: k for k, item in enumerate(data.items)}
        ids = data.meta["official_item_ids"]
        missing = sorted({ids[item] for item, _, _ in rows if ids[item] not in position})
        if missing:
            raise EqvlError(f"eqben: the official export needs a score for every row, but {len(missing)} item(s) were "
                            f"skipped (first: {missing[0]}); fix or restore the images instead of `skip_bad`", params=("skip_bad",))
        out = np.empty(len(rows), dtype=np.float32)
        for r, (item, c, i) in enumerate(rows):
            out[r] = np.asarray(scores[position[ids[item]]])[c, i]
        return out
