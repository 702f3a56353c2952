"""ImageCoDe (Krojer et al., ACL 2022): pick the one image of a set of 10 that a contextual
description names; the static sets (Open Images photos) and the video sets (near-identical frames).

Layout as released: `valid_data.json` / `test_data.json` / `train_data.json` (in the folder or `data/`),
`{set name: {image index: description}}`, and the image sets unzipped beside them
(`<set name>/img<k>.jpg`, or under `image-sets/`). As `baselines/clip/zero_shot.py` scores it: the
set's `*.jpg` files sorted by the number after "img", the description stripped, right when the
highest-scoring image is file number `index` of that order (numpy's argsort of 10 values keeps
ties in order, so a tie goes to the first image); sets whose name holds "open-images" are static.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from eqvl.benchmarks._common import check_options, layout_error, read_json_keyed
from eqvl.benchmarks.base import Benchmark, BenchmarkData, register_benchmark
from eqvl.benchmarks.spec import TIES, choice_correct
from eqvl.data.records import ImageRef, ScoreItem
from eqvl.errors import DataError, EqvlError
from eqvl.metrics import mean_of

SPLITS = ("valid", "test", "train")
SETS = ("static", "video", "all")


def set_kind(name: str) -> str:
    return "static" if "open-images" in name else "video"


def set_images(folder: Path) -> list[Path]:
    """The set's images in zero_shot.py's order: `*.jpg` sorted by the integer after 'img'."""
    files = list(folder.glob("*.jpg"))
    try:
        return sorted(files, key=lambda p: int(p.stem[3:]))
    except ValueError:
        raise DataError("image names must look like img<number>.jpg", path=str(folder)) from None


def _find(data_dir: Path, split: str) -> Path | None:
    if data_dir.is_file():
        return data_dir
    return next((p for p in (data_dir / f"{split}_data.json", data_dir / "data" / f"{split}_data.json") if p.is_file()), None)


def _image_root(path: Path) -> Path:
    nested = path.parent / "image-sets"
    return nested if nested.is_dir() else path.parent


def read_imagecode(path: Path, root: Path, kinds: tuple[str, ...]) -> list[ScoreItem]:
    data = read_json_keyed(path)
    if not isinstance(data, dict) or not data:
        raise DataError("expected {image set: {image index: description}}", path=str(path))
    items = []
    for name, descr in data.items():
        if set_kind(name) not in kinds:
            continue
        if not isinstance(descr, dict):
            raise DataError(f"set {name!r}: expected {{image index: description}} (the unlabeled test file has lists; "
                            "it cannot be scored)", path=str(path), field=name)
        folder = root / name
        files = set_images(folder) if folder.is_dir() else [folder / f"img{k}.jpg" for k in range(10)]  # missing: named at scoring
        for idx, text in descr.items():
            where = f"{name}.{idx}"
            if not isinstance(text, str) or not text.strip():
                raise DataError("description must be a non-empty string", path=str(path), field=where)
            if not idx.isdigit() or int(idx) >= len(files):
                raise DataError(f"image index {idx!r} is not one of the set's {len(files)} images", path=str(path), field=where)
            items.append(ScoreItem(id=f"{name}/{idx}", images=[ImageRef(str(p)) for p in files], captions=[text.strip()],
                                   subset=set_kind(name), meta={"label": int(idx)}))
    return items


@register_benchmark("imagecode")
class ImageCoDeBenchmark(Benchmark):
    headline = "static_acc"
    layout = (
        "valid_data.json / test_data.json / train_data.json ({set: {index: description}}; in the folder or data/)\n"
        "  with the image sets unzipped beside them: <set>/img<k>.jpg (or image-sets/<set>/); options split=valid|test|train\n"
        "  (valid), sets=static|video|all (all), image_root=, ties=first (official) | strict"
    )

    @classmethod
    def detect(cls, folder: Path) -> bool:
        return any(_find(folder, s) is not None for s in SPLITS) and folder.is_dir()

    def load(self, data_dir: Path, **options: Any) -> BenchmarkData:
        check_options(self.name, options, ["split", "sets", "image_root", "ties"])
        data_dir = Path(data_dir)
        if not data_dir.exists():
            raise DataError("no such file or folder", path=str(data_dir))
        split, sets, ties = (str(options.get(k) or d) for k, d in (("split", "valid"), ("sets", "all"), ("ties", "first")))
        for key, value, valid in (("split", split, SPLITS), ("sets", sets, SETS), ("ties", ties, TIES)):
            if value not in valid:
                raise EqvlError(f"imagecode: {key} must be one of {', '.join(valid)}, got {value!r}")
        path = _find(data_dir, split)
        if path is None:
            raise layout_error(self.name, data_dir, self.layout)
        root = Path(options["image_root"]) if options.get("image_root") else _image_root(path)
        kinds = ("static", "video") if sets == "all" else (sets,)
        items = read_imagecode(path, root, kinds)
        if not items:
            raise DataError(f"no {sets} sets in this file", path=str(path))
        return BenchmarkData(items=items, meta={"source": str(path), "image_root": str(root), "ties": ties})

    def evaluate(self, data: BenchmarkData, scores: list[np.ndarray]) -> dict[str, Any]:
        if len(scores) != len(data.items):
            raise EqvlError(f"imagecode: got {len(scores)} score arrays for {len(data.items)} items")
        strict = data.meta.get("ties") == "strict"
        right = np.array([choice_correct(s, it.meta["label"], strict) for it, s in zip(data.items, scores)], dtype=bool)
        kinds = np.array([it.subset for it in data.items])
        out: dict[str, Any] = {"metrics": {"acc": mean_of(right)}, "subsets": {}, "ties": data.meta.get("ties", "first")}
        for kind in ("static", "video"):
            mask = kinds == kind
            out["metrics"][f"{kind}_acc"] = mean_of(right[mask])
            if mask.any():
                out["subsets"][kind] = {"acc": mean_of(right[mask]), "n": int(mask.sum())}
        return out
