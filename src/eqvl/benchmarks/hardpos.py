"""Hard positives (Kamath et al., ECCV 2024): does a model keep the negative below both
the caption and a meaning-preserving rewrite of it?

Each set ships twice in the same order: `data/<set>.json` with (c, c_n) and
`swapped_data/<set>.json` with (c_p, c_n). The two are zipped into triplets
[c, c_p, c_n]; a misaligned pair of files is an error, never silently skipped.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from eqvl.benchmarks._common import check_options, layout_error, stack_scores, text_field
from eqvl.benchmarks.aro import read_bbox
from eqvl.benchmarks.base import Benchmark, BenchmarkData, register_benchmark
from eqvl.benchmarks.triplets import triplet_results
from eqvl.data.paths import resolve_data_path
from eqvl.data.records import ImageRef, ScoreItem
from eqvl.errors import DataError, EqvlError
from eqvl.io import read_json

#: the released sets, in reporting order (REPLACE: VL-Checklist; SWAP: VG attribution)
KNOWN_SETS = ("vl_checklist_relations", "vl_checklist_attributes", "visual_genome_attribution")


def _records(path: Path) -> list[dict]:
    ann = read_json(path)
    if not isinstance(ann, list):
        raise DataError(f"expected a JSON list of records, got {type(ann).__name__}", path=str(path))
    for k, rec in enumerate(ann):
        if not isinstance(rec, dict):
            raise DataError("expected an object {image_id, true_caption, false_caption, image_path}", path=str(path), field=f"[{k}]")
    return ann


def read_set(orig_path: Path, swap_path: Path, name: str, image_root: Path) -> list[ScoreItem]:
    """Zip the two files of one set into triplet items, checking they align record by record."""
    orig, swap = _records(orig_path), _records(swap_path)
    if len(orig) != len(swap):
        raise DataError(f"{len(orig)} records here but {len(swap)} in {swap_path}; the two files must align", path=str(orig_path))
    items = []
    for k, (a, b) in enumerate(zip(orig, swap)):
        where = f"[{k}]."
        c = text_field(a, "true_caption", orig_path, where=where)
        cn = text_field(a, "false_caption", orig_path, where=where)
        cp = text_field(b, "true_caption", swap_path, where=where)
        cn2 = text_field(b, "false_caption", swap_path, where=where)
        img = text_field(a, "image_path", orig_path, where=where)
        img2 = text_field(b, "image_path", swap_path, where=where)
        if img != img2 or str(a.get("image_id")) != str(b.get("image_id")):
            raise DataError(f"record {k} is for image {img!r} here but {img2!r} in {swap_path}; the files are misaligned",
                            path=str(orig_path), field=f"[{k}].image_path")
        if cn != cn2:
            raise DataError(f"record {k} has negative {cn!r} here but {cn2!r} in {swap_path}; the files are misaligned",
                            path=str(orig_path), field=f"[{k}].false_caption")
        path = resolve_data_path(image_root, img, f"{orig_path}[{k}]")
        items.append(ScoreItem(id=f"{name}/{k}", images=[ImageRef(str(path), bbox=read_bbox(a, orig_path, k, required=False))],
                               captions=[c, cp, cn], subset=name, meta={"image_id": a.get("image_id")}))
    if not items:
        raise DataError("no records", path=str(orig_path))
    return items


@register_benchmark("hardpos")
class HardPositivesBenchmark(Benchmark):
    layout = (
        "a folder with data/<set>.json ([{image_id, true_caption (c), false_caption (c_n), image_path}]) and\n"
        "  swapped_data/<set>.json (same records, true_caption = the hard positive c_p), sets: "
        + ", ".join(KNOWN_SETS)
        + "\n  image_path relative to image_root= (default: the --data folder); set=<name,...> picks sets"
    )

    def load(self, data_dir: Path, **options: Any) -> BenchmarkData:
        check_options(self.name, options, ["image_root", "set"])
        data_dir = Path(data_dir)
        if not data_dir.is_dir():
            raise DataError("expected a folder holding data/ and swapped_data/", path=str(data_dir))
        orig_dir, swap_dir = data_dir / "data", data_dir / "swapped_data"
        if not orig_dir.is_dir() or not swap_dir.is_dir():
            raise layout_error(self.name, data_dir, self.layout)
        available = sorted(p.stem for p in orig_dir.glob("*.json"))
        if options.get("set"):
            sets = [s.strip() for s in str(options["set"]).split(",") if s.strip()]
            bad = [s for s in sets if s not in available]
            if bad:
                raise EqvlError(f"hardpos: no data/<set>.json for {', '.join(bad)}; available: {', '.join(available) or '(none)'}")
        else:
            sets = [s for s in KNOWN_SETS if s in available] + [s for s in available if s not in KNOWN_SETS]
        if not sets:
            raise layout_error(self.name, data_dir, self.layout)
        for s in sets:
            if not (swap_dir / f"{s}.json").is_file():
                raise DataError(f"data/{s}.json has no partner swapped_data/{s}.json", path=str(data_dir))
        root = Path(options["image_root"]) if options.get("image_root") else data_dir
        items: list[ScoreItem] = []
        for s in sets:
            items.extend(read_set(orig_dir / f"{s}.json", swap_dir / f"{s}.json", s, root))
        return BenchmarkData(items=items, meta={"sets": sets, "image_root": str(root)})

    def evaluate(self, data: BenchmarkData, scores: list[np.ndarray]) -> dict[str, Any]:
        s = stack_scores(scores, len(data.items), (3, 1), self.name)
        return triplet_results([it.subset for it in data.items], s, order=data.meta.get("sets"))
