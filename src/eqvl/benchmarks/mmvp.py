"""MMVP-VLM (Tong et al., CVPR 2024): 9 visual patterns x 15 pairs of images that CLIP embeds alike,
each image with a short statement; a pair is right when each statement picks its own image.

Scored as the repository's `scripts/evaluate_vlm.py`: rows of `Questions.csv` are taken two at a
time, both images are read from the FIRST row's pattern folder, the prompt is `"a photo of " +
statement`, a statement predicts image 1 when P(image 1 | text) > 0.5 (i.e. s(text, img1) >
s(text, img2); a tie predicts image 2), and the right image is image 1 for an odd question id.
The pattern of a pair is `categories[pair_index // 15]` (by position, as the script does) and its
accuracy is divided by `num_pairs // 9`; `category=column` uses the CSV's pattern column and its
own pair count instead, and `ties=strict` counts a tie wrong either way.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np

from eqvl.benchmarks._common import check_options, layout_error, stack_scores
from eqvl.benchmarks.base import Benchmark, BenchmarkData, register_benchmark
from eqvl.data.records import ImageRef, ScoreItem
from eqvl.errors import DataError, EqvlError
from eqvl.io import read_text

#: evaluate_vlm.py's category names, in the order it assigns them (15 pairs each)
CATEGORIES = (
    "Orientation and Direction", "Presence of Specific Features", "State and Condition", "Quantity and Count",
    "Positional and Relational Context", "Color and Appearance", "Structural Characteristics", "Texts",
    "Viewpoint and Perspective",
)
PAIRS_PER_CATEGORY = 15
#: the image folder as the script spells it, as the README spells it, and the Hub copy's
IMAGE_DIRS = ("MLLM_VLM Images", "MMVP_VLM_Images", "MMVP VLM Images")
PROMPT = "a photo of "


def read_questions(path: Path, images: Path) -> list[ScoreItem]:
    rows = list(csv.reader(read_text(path).splitlines()))
    if not rows:
        raise DataError("empty file", path=str(path))
    items = []
    body = rows[1:]  # the script skips the header
    for k in range(0, len(body) - 1, 2):  # an odd last row is dropped, as `next(reader, None)` ends the loop
        pair = []
        for j, row in enumerate(body[k:k + 2]):
            line = k + j + 2
            if len(row) != 3:
                raise DataError(f"expected 3 columns (id, pattern, statement), got {len(row)}", path=str(path), line=line)
            try:
                qid = int(row[0])
            except ValueError:
                raise DataError(f"question id {row[0]!r} is not an integer", path=str(path), line=line, field="id") from None
            if not row[2].strip():
                raise DataError("empty statement", path=str(path), line=line, field="statement")
            pair.append((qid, row[1], row[2]))
        (q1, pattern, s1), (q2, pattern2, s2) = pair
        imgs = [ImageRef(str(images / pattern / f"{q}.jpg")) for q in (q1, q2)]
        items.append(ScoreItem(id=f"{q1}-{q2}", images=imgs, captions=[PROMPT + s1, PROMPT + s2], subset=pattern,
                               meta={"qids": (q1, q2), "pattern2": pattern2, "index": k // 2}))
    if not items:
        raise DataError("no question pairs", path=str(path))
    return items


@register_benchmark("mmvp-vlm")
class MMVPBenchmark(Benchmark):
    headline = "acc"
    layout = (
        "the MMVP_VLM folder: Questions.csv (header, then rows id, pattern, statement; two rows per pair) and the images\n"
        "  at <images>/<pattern>/<id>.jpg, <images> = 'MLLM_VLM Images' (scripts/evaluate_vlm.py), MMVP_VLM_Images\n"
        "  (README) or image_root=; options category=position (official) | column, ties=official | strict"
    )

    @classmethod
    def detect(cls, folder: Path) -> bool:
        return (folder / "Questions.csv").is_file() and any((folder / d).is_dir() for d in IMAGE_DIRS)

    def load(self, data_dir: Path, **options: Any) -> BenchmarkData:
        check_options(self.name, options, ["image_root", "category", "ties"])
        root = Path(data_dir)
        path = root if root.is_file() else root / "Questions.csv"
        if not path.is_file():
            if not root.exists():
                raise DataError("no such file or folder", path=str(root))
            raise layout_error(self.name, root, self.layout)
        category, ties = str(options.get("category", "position")), str(options.get("ties", "official"))
        if category not in ("position", "column") or ties not in ("official", "strict"):
            raise EqvlError("mmvp-vlm: category= is position or column, ties= is official or strict")
        if options.get("image_root"):
            images = Path(options["image_root"])
        else:
            images = next((path.parent / d for d in IMAGE_DIRS if (path.parent / d).is_dir()), path.parent / IMAGE_DIRS[1])
        items = read_questions(path, images)
        if category == "position":
            for it in items:
                it.subset = CATEGORIES[min(it.meta["index"] // PAIRS_PER_CATEGORY, len(CATEGORIES) - 1)]
        return BenchmarkData(items=items, meta={"category": category, "ties": ties, "image_root": str(images)})

    def evaluate(self, data: BenchmarkData, scores: list[np.ndarray]) -> dict[str, Any]:
        s = stack_scores(scores, len(data.items), (2, 2), self.name)
        strict = data.meta.get("ties") == "strict"
        right = np.ones(len(data.items), dtype=bool)
        for k in (0, 1):  # statement k; its image is image 1 (index 0) when its id is odd
            gt_first = np.array([it.meta["qids"][k] % 2 == 1 for it in data.items])
            first, second = s[:, k, 0], s[:, k, 1]
            if strict:
                right &= np.where(gt_first, first > second, second > first)
            else:
                right &= (first > second) == gt_first
        names = list(dict.fromkeys(it.subset for it in data.items))
        if data.meta.get("category") == "position":  # the script reports (and averages) all 9, empty ones as 0
            names = list(CATEGORIES)
        per: dict[str, dict[str, Any]] = {}
        denom_all = len(data.items) // len(CATEGORIES)
        for name in names:
            mask = np.array([it.subset == name for it in data.items])
            denom = denom_all if data.meta.get("category") == "position" else int(mask.sum())
            per[name] = {"acc": float(right[mask].sum() / denom) if denom else 0.0, "n": int(mask.sum())}
        out = {"metrics": {"acc": float(np.mean([v["acc"] for v in per.values()])), "pair_acc": float(right.mean())},
               "subsets": per}
        return out
