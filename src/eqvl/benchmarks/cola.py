"""COLA multi-object (Ray et al., NeurIPS 2023): two Visual Genome images whose captions swap the
attributes / objects; each caption must pick its own image.

Layout as released: `data/COLA_multiobjects_matching_benchmark.json`, a list of
`[image_1 link, caption_1, image_2 link, caption_2]`; the links end in `<vg id>.jpg`, which eqvl
finds under image_root= (default: `images/`, `vg_gqa_images/` or `VG_100K/` beside the file).
Official metric (`scripts/eval.py`, `ColaMultiObjAcc`): with preds[image, caption],
correct = im0_c0 > im1_c0 and im1_c1 > im0_c1, i.e. each caption scores its own image above the
other one (Winoground's image score), strict `>`, mean over records. eqvl reports it as `acc`
and adds the text and group scores. (The single-object mAP sets are not read.)
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from eqvl import metrics
from eqvl.benchmarks._common import check_options, layout_error, read_json_keyed, stack_scores, summarize
from eqvl.benchmarks.base import Benchmark, BenchmarkData, register_benchmark
from eqvl.data.records import ImageRef, ScoreItem
from eqvl.errors import DataError

FILE = "COLA_multiobjects_matching_benchmark.json"
IMAGE_DIRS = ("images", "vg_gqa_images", "VG_100K")


def _find(data_dir: Path) -> Path | None:
    if data_dir.is_file():
        return data_dir
    return next((p for p in (data_dir / FILE, data_dir / "data" / FILE) if p.is_file()), None)


def _image_root(path: Path, data_dir: Path) -> Path:
    for base in dict.fromkeys((data_dir if data_dir.is_dir() else path.parent, path.parent, path.parent.parent)):
        for name in IMAGE_DIRS:
            if (base / name).is_dir():
                return base / name
    return path.parent / "images"


def read_cola(path: Path, root: Path) -> list[ScoreItem]:
    records = read_json_keyed(path)
    if not isinstance(records, list) or not records:
        raise DataError("expected a non-empty JSON list of [image_1, caption_1, image_2, caption_2]", path=str(path))
    items = []
    for k, rec in enumerate(records):
        if not isinstance(rec, list) or len(rec) != 4:
            raise DataError(f"record {k}: expected [image_1, caption_1, image_2, caption_2]", path=str(path), field=f"[{k}]")
        for j, what in enumerate(("image_1", "caption_1", "image_2", "caption_2")):
            if not isinstance(rec[j], str) or not rec[j].strip():
                raise DataError(f"record {k}: {what} must be a non-empty string", path=str(path), field=f"[{k}][{j}]")
        images = [ImageRef(str(root / rec[j].rstrip("/").rsplit("/", 1)[-1])) for j in (0, 2)]
        items.append(ScoreItem(id=str(k), images=images, captions=[rec[1], rec[3]], meta={"links": [rec[0], rec[2]]}))
    return items


@register_benchmark("cola")
class ColaBenchmark(Benchmark):
    headline = "acc"
    layout = (
        f"{FILE} (in the folder or its data/, or the file itself): [[image_1 link, caption_1, image_2 link,\n"
        "  caption_2], ...]; images by the link's file name (<vg id>.jpg) under image_root= (default: images/,\n"
        "  vg_gqa_images/ or VG_100K/ beside the --data folder or the file)"
    )

    @classmethod
    def detect(cls, folder: Path) -> bool:
        return _find(folder) is not None and folder.is_dir()

    def load(self, data_dir: Path, **options: Any) -> BenchmarkData:
        check_options(self.name, options, ["image_root"])
        data_dir = Path(data_dir)
        if not data_dir.exists():
            raise DataError("no such file or folder", path=str(data_dir))
        path = _find(data_dir)
        if path is None:
            raise layout_error(self.name, data_dir, self.layout)
        root = Path(options["image_root"]) if options.get("image_root") else _image_root(path, data_dir)
        return BenchmarkData(items=read_cola(path, root), meta={"source": str(path), "image_root": str(root)})

    def evaluate(self, data: BenchmarkData, scores: list[np.ndarray]) -> dict[str, Any]:
        s = stack_scores(scores, len(data.items), (2, 2), self.name)
        flags = metrics.winoground_scores(s)
        return summarize([it.subset for it in data.items], {"acc": flags["image"], "text": flags["text"], "group": flags["group"]})
