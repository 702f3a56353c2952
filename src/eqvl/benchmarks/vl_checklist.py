"""VL-CheckList (Zhao et al., 2022): Object / Attribute / Relation probes on VG, VAW, HAKE and
SWiG images, each record an image with a positive and a negative caption.

Read as the official `vl_checklist` package reads it: every `corpus/v1/<type>/<source>.yaml`
names an annotation list (`ANNO_PATH`, `[[image_path, {"POS": [...], "NEG": [...]}], ...]`) and an
image folder (`IMG_ROOT`), both relative to the checkout. ITC accuracy per file is
`score(POS[0]) > score(NEG[0])` (strict; `evaluate.py` uses only the first caption of each list).

Official quirks kept by default (see docs/guide/benchmarks.md): a record whose image is missing
is silently dropped by `data_loader.py` (here: dropped and counted, `missing_images=error` hands
it to the engine instead, which names it or skips it with --skip-bad); `MAX_NUM` keeps the first
MAX_NUM/2 records per file (off unless `max_num=` is given). The category numbers follow
`radar.py`: a spoke (e.g. Object/Size/large) is the mean over its sources (vg, swig, hake, vaw)
of the mean over that source's files; Object / Attribute / Relation are means of their spokes.
"""

from __future__ import annotations

import os
from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from eqvl import metrics
from eqvl.benchmarks._common import check_options, layout_error, stack_scores, summarize
from eqvl.benchmarks.base import Benchmark, BenchmarkData, register_benchmark
from eqvl.data.records import ImageRef, ScoreItem
from eqvl.errors import DataError, EqvlError
from eqvl.io import read_json, read_text

CATEGORIES = ("Object", "Attribute", "Relation")


def read_corpus_yaml(path: Path) -> dict[str, str]:
    """The corpus files are three `KEY: "value"` lines; read them without a YAML dependency."""
    out: dict[str, str] = {}
    for n, line in enumerate(read_text(path).splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        key, sep, value = line.partition(":")
        if not sep:
            raise DataError("expected KEY: value", path=str(path), line=n)
        out[key.strip()] = value.strip().strip("\"'")
    for key in ("ANNO_PATH", "IMG_ROOT"):
        if not out.get(key):
            raise DataError("missing required field", path=str(path), field=key)
    return out


def find_corpus(root: Path) -> list[tuple[str, str, Path]]:
    """(type, source, yaml) for every corpus/v1/<type>/<source>.yaml, in sorted order."""
    base = root / "corpus" / "v1"
    found = []
    for path in sorted(base.rglob("*.yaml")):
        rel = path.relative_to(base)
        found.append(("/".join(rel.parts[:-1]), path.stem, path))
    return found


def read_records(path: Path) -> list[tuple[str, str, str]]:
    """(image_path, POS[0], NEG[0]) per record of one annotation list; errors name record and field."""
    ann = read_json(path)
    if not isinstance(ann, list):
        raise DataError(f"expected a JSON list of [image_path, {{POS, NEG}}], got {type(ann).__name__}", path=str(path))
    out = []
    for k, rec in enumerate(ann):
        if not (isinstance(rec, list) and len(rec) == 2 and isinstance(rec[0], str) and isinstance(rec[1], dict)):
            raise DataError("expected [image_path, {\"POS\": [...], \"NEG\": [...]}]", path=str(path), field=f"[{k}]")
        texts = []
        for key in ("POS", "NEG"):
            value = rec[1].get(key)
            if not isinstance(value, list) or not value or not isinstance(value[0], str) or not value[0].strip():
                raise DataError("expected a non-empty list of captions", path=str(path), field=f"[{k}][1].{key}")
            texts.append(value[0])
        out.append((rec[0], texts[0], texts[1]))
    return out


@register_benchmark("vl-checklist")
class VLCheckListBenchmark(Benchmark):
    reads_subsets = True
    headline = "acc"
    layout = (
        "the VL-CheckList checkout: corpus/v1/<type>/<source>.yaml (ANNO_PATH, IMG_ROOT) and the data/**.json lists\n"
        "  [[image_path, {\"POS\": [...], \"NEG\": [...]}], ...]; images at <image_root>/<IMG_ROOT>/<image_path>, i.e.\n"
        "  vg/VG_100K*/, hake/..., swig/ (DATASETS.md); image_root= (default: the checkout); subset= type prefixes\n"
        "  (Object,Attribute/color); max_num= (official MAX_NUM: first max_num/2 records per file; default all);\n"
        "  missing_images=skip (official: dropped, counted) | error"
    )

    @classmethod
    def detect(cls, folder: Path) -> bool:
        return (folder / "corpus" / "v1").is_dir()

    def load(self, data_dir: Path, **options: Any) -> BenchmarkData:
        check_options(self.name, options, ["image_root", "subset", "max_num", "missing_images"])
        root = Path(data_dir)
        if not root.is_dir():
            raise DataError("expected the VL-CheckList folder (corpus/v1/ + data/)", path=str(root))
        corpus = find_corpus(root)
        if not corpus:
            raise layout_error(self.name, root, self.layout)
        if options.get("subset"):
            wanted = [s.strip().strip("/") for s in str(options["subset"]).split(",") if s.strip()]
            corpus = [c for c in corpus if any(c[0] == w or c[0].startswith(w + "/") for w in wanted)]
            if not corpus:
                raise EqvlError(f"vl-checklist: no corpus type matches subset={options['subset']}; types: "
                                + ", ".join(sorted({t for t, _, _ in find_corpus(root)})))
        missing_mode = str(options.get("missing_images", "skip"))
        if missing_mode not in ("skip", "error"):
            raise EqvlError(f"vl-checklist: missing_images={missing_mode}: expected skip or error")
        try:
            max_num = int(options["max_num"]) if options.get("max_num") else 0
        except ValueError:
            raise EqvlError(f"vl-checklist: max_num={options['max_num']}: expected an integer") from None
        image_root = Path(options["image_root"]) if options.get("image_root") else root
        items, dropped = self._items(root, image_root, corpus, missing_mode == "skip", max_num)
        if not items:
            raise DataError(f"no record has its image under {image_root} (expected vg/, hake/, swig/ there; see DATASETS.md)", path=str(root))
        meta = {"files": list(OrderedDict.fromkeys(it.subset for it in items)), "missing_images": dropped,
                "max_num": max_num or None, "image_root": str(image_root)}
        return BenchmarkData(items=items, meta=meta)

    def _items(self, root: Path, image_root: Path, corpus, skip_missing: bool, max_num: int):
        items: list[ScoreItem] = []
        dropped: dict[str, int] = {}
        for type_, source, yaml_path in corpus:
            conf = read_corpus_yaml(yaml_path)
            ann_path = root / conf["ANNO_PATH"]
            if not ann_path.is_file():
                raise DataError(f"annotation list named by {yaml_path} (ANNO_PATH) not found; expected the official data/ folder",
                                path=str(ann_path))
            subset = f"{type_}/{source}"
            kept = 0
            for k, (img, pos, neg) in enumerate(read_records(ann_path)):
                path = os.path.join(str(image_root / conf["IMG_ROOT"]), img)
                if skip_missing and not os.path.exists(path):
                    dropped[subset] = dropped.get(subset, 0) + 1
                    continue
                if max_num and kept >= int(max_num / 2):
                    break
                kept += 1
                items.append(ScoreItem(id=f"{subset}/{k}", images=[ImageRef(path)], captions=[pos, neg], subset=subset,
                                       meta={"record": f"{ann_path}[{k}]"}))
        return items, dropped

    def evaluate(self, data: BenchmarkData, scores: list[np.ndarray]) -> dict[str, Any]:
        s = stack_scores(scores, len(data.items), (2, 1), self.name)
        correct = metrics.pairwise_accuracy(s)
        files = [it.subset for it in data.items]
        out = summarize(files, {"acc": correct})
        per_file = out["subsets"]
        spokes = radar_spokes({f: v["acc"] for f, v in per_file.items()})
        cats: dict[str, list[float]] = OrderedDict()
        for spoke, acc in spokes.items():
            cats.setdefault(spoke.split("/", 1)[0], []).append(acc)
        out["types"] = {t: {"acc": a, "n": sum(v["n"] for f, v in per_file.items() if f.rsplit("/", 1)[0] == t)} for t, a in spokes.items()}
        out["categories"] = {c: {"acc": float(np.mean(v)), "spokes": len(v)} for c, v in cats.items()}
        out["metrics"] = {"acc": float(np.mean([c["acc"] for c in out["categories"].values()])), "micro_acc": out["metrics"]["acc"]}
        for c in CATEGORIES:
            if c in out["categories"]:
                out["metrics"][c.lower()] = out["categories"][c]["acc"]
        if data.meta.get("missing_images"):
            out["missing_images"] = data.meta["missing_images"]
        return out


def radar_spokes(per_file: dict[str, float]) -> dict[str, float]:
    """radar.py's aggregation: a type's score = mean over sources (file-name prefix: vg, swig, hake,
    vaw) of the mean accuracy of that source's files."""
    groups: dict[str, dict[str, list[float]]] = OrderedDict()
    for name, acc in per_file.items():
        type_, source = name.rsplit("/", 1)
        groups.setdefault(type_, OrderedDict()).setdefault(source.split("_", 1)[0], []).append(acc)
    return {t: float(np.mean([np.mean(v) for v in by_source.values()])) for t, by_source in groups.items()}
