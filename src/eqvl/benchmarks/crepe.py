"""CREPE (Ma et al., CVPR 2023): image-to-text retrieval of a Visual Genome region's caption among its
hard negatives, for systematicity (seen / unseen compounds of a pretraining set; HN-Atom, HN-Comp and
both) and productivity (caption complexity 4-12; atom, negate and swap negatives).

Scored as `crepe_compo_eval_open_clip.py` + `crepe_eval_utils.py` do: each CSV row's image is its VG
image (`VG_100K` first, then `VG_100K_2`) cropped to (x, y, width, height) with torchvision's
`TF.crop` (PIL's crop: the part past the edge is black), the retrieval set is [caption] + the row's
list-valued negatives, the rank of the caption is where `torch.argsort(scores, descending=True)` puts
it, and `get_one2many_metrics` gives Recall@{1,3,5,10} (rank < k) and the mean / median rank per file
and negative type. Ties are ordered as that argsort orders them; `ties=strict` ranks the caption
below every negative scoring the same.
"""

from __future__ import annotations

import ast
import csv
import re
from pathlib import Path
from typing import Any

import numpy as np
import torch

from eqvl.benchmarks._common import check_options, layout_error
from eqvl.benchmarks.base import Benchmark, BenchmarkData, register_benchmark
from eqvl.data.records import ImageRef, ScoreItem
from eqvl.errors import DataError, EqvlError
from eqvl.io import read_text

SYST = re.compile(r"^syst_vg_hard_negs_(seen_compounds|unseen_compounds)_in_(\w+)\.csv$")
PROD = re.compile(r"^prod_vg_hard_negs_(atom|negate|swap)_complexity_(\d+)\.csv$")
SYST_TYPES = ("atom", "comp", "combined")
KS = (1, 3, 5, 10)


def find_files(root: Path) -> list[tuple[str, Path, str]]:
    """(subset, csv, hard-negative column) for every CREPE CSV under `root`; a systematicity file
    gives one subset per negative type (its three `valid_hard_negs_*` columns)."""
    found = []
    for path in _csvs(root):
        m = SYST.match(path.name)
        if m:
            found += [(f"systematicity/{m.group(2)}/{m.group(1)}/{t}", path, f"valid_hard_negs_{t}") for t in SYST_TYPES]
            continue
        m = PROD.match(path.name)
        if m:
            found.append((f"productivity/{m.group(1)}/{int(m.group(2)):02d}", path, "hard_negs"))
    return found


def _csvs(root: Path) -> list[Path]:
    """CSV files up to three folders deep (the zips unpack to <folder>/<type>/<file>.csv); never a walk
    through the image folders beside them."""
    return sorted(p for pattern in ("*.csv", "*/*.csv", "*/*/*.csv") for p in root.glob(pattern))


def vg_image(vg_root: Path, image_id: str) -> str:
    """crepe_eval_utils.get_image_by_id: VG_100K/<id>.jpg, else VG_100K_2/<id>.jpg."""
    for sub in ("VG_100K", "VG_100K_2"):
        path = vg_root / sub / f"{image_id}.jpg"
        if path.exists():
            return str(path)
    return str(vg_root / "VG_100K" / f"{image_id}.jpg")


def read_csv_subset(path: Path, subset: str, column: str, vg_root: Path, rows_cache: dict) -> list[ScoreItem]:
    if path not in rows_cache:
        rows_cache[path] = list(csv.DictReader(read_text(path).splitlines()))
    rows = rows_cache[path]
    items = []
    for k, row in enumerate(rows):
        line = k + 2
        for key in ("image_id", "caption", column, "x", "y", "width", "height"):
            if row.get(key) is None:
                raise DataError("missing column", path=str(path), line=line, field=key)
        negs = parse_negatives(row[column])
        if negs is None:
            raise DataError("expected a list of captions", path=str(path), line=line, field=column)
        try:
            box = tuple(float(row[key]) for key in ("x", "y", "width", "height"))
        except ValueError:
            raise DataError("crop box values must be numbers", path=str(path), line=line, field="x/y/width/height") from None
        ref = ImageRef(vg_image(vg_root, row["image_id"].strip()), bbox=box)  # type: ignore[arg-type]
        items.append(ScoreItem(id=f"{subset}/{k}", images=[ref], captions=[str(row["caption"])] + [str(n) for n in negs],
                               subset=subset))
    return items


def parse_negatives(text: str) -> list | None:
    """A row's negatives as crepe_eval_utils gets them (`ast.literal_eval`, then `list()`); None if not a
    list. 3,768 of the 39,715 released productivity rows write a set literal `{'...', ...}`: the official
    `list(set)` order follows the string hash, so eqvl keeps the written order (repeats dropped, as the
    set drops them); the caption's rank does not depend on that order."""
    try:
        node = ast.parse(text.strip(), mode="eval").body
        if isinstance(node, ast.Set):
            return list(dict.fromkeys(ast.literal_eval(e) for e in node.elts))
        value = ast.literal_eval(node)
    except (ValueError, SyntaxError, TypeError, MemoryError, RecursionError):
        return None
    return list(value) if isinstance(value, (list, tuple, set)) else None


def caption_rank(column: np.ndarray, strict: bool) -> int:
    """Where the caption (index 0) lands: get_one2many_rank's argsort, or below every tie (strict)."""
    if strict:
        return int((column[1:] >= column[0]).sum())
    ranking = torch.argsort(torch.from_numpy(column.astype(np.float32))[None], descending=True)
    return int(torch.where(ranking == 0)[1][0])


@register_benchmark("crepe")
class CrepeBenchmark(Benchmark):
    reads_subsets = True
    headline = "recall@1"
    layout = (
        "a folder holding the unzipped CSVs (any depth): syst_vg_hard_negs_{seen,unseen}_compounds_in_{cc12m,yfcc,laion}.csv\n"
        "  (columns image_id, caption, x, y, width, height, valid_hard_negs_{atom,comp,combined}) and/or\n"
        "  <atom|negate|swap>/prod_vg_hard_negs_<type>_complexity_<4..12>.csv (hard_negs); negatives are Python list\n"
        "  (or set) literals; images at <vg_root>/VG_100K/<image_id>.jpg or VG_100K_2/ (vg_root= , default <data>);\n"
        "  options subset=systematicity,productivity/atom (prefixes), train_dataset=laion, ties=argsort|strict"
    )

    @classmethod
    def detect(cls, folder: Path) -> bool:
        return any(SYST.match(p.name) or PROD.match(p.name) for p in _csvs(folder))

    def load(self, data_dir: Path, **options: Any) -> BenchmarkData:
        check_options(self.name, options, ["subset", "train_dataset", "vg_root", "ties"])
        root = Path(data_dir)
        if not root.is_dir():
            raise DataError("expected a folder holding the CREPE CSV files", path=str(root))
        ties = str(options.get("ties", "argsort"))
        if ties not in ("argsort", "strict"):
            raise EqvlError(f"crepe: ties={ties}: expected argsort (official) or strict")
        found = find_files(root)
        if not found:
            raise layout_error(self.name, root, self.layout)
        if options.get("train_dataset"):
            found = [f for f in found if not f[0].startswith("systematicity/") or f[0].split("/")[1] == options["train_dataset"]]
        if options.get("subset"):
            wanted = [w.strip().strip("/") for w in str(options["subset"]).split(",") if w.strip()]
            found = [f for f in found if any(f[0] == w or f[0].startswith(w + "/") for w in wanted)]
        if not found:
            raise EqvlError(f"crepe: no CSV matches subset={options.get('subset')} train_dataset={options.get('train_dataset')}")
        vg_root = Path(options["vg_root"]) if options.get("vg_root") else root
        cache: dict = {}
        items = [it for subset, path, column in found for it in read_csv_subset(path, subset, column, vg_root, cache)]
        return BenchmarkData(items=items, meta={"ties": ties, "files": {s: str(p) for s, p, _ in found}})

    def evaluate(self, data: BenchmarkData, scores: list[np.ndarray]) -> dict[str, Any]:
        if len(scores) != len(data.items):
            raise EqvlError(f"crepe: got {len(scores)} score arrays for {len(data.items)} items")
        strict = data.meta.get("ties") == "strict"
        ranks = np.array([caption_rank(np.asarray(s, dtype=np.float64).reshape(-1), strict) for s in scores])
        subsets = [it.subset for it in data.items]
        per: dict[str, dict[str, Any]] = {}
        for name in dict.fromkeys(subsets):
            mask = np.array([s == name for s in subsets])
            per[name] = one2many_metrics(ranks[mask])
        out: dict[str, Any] = {"metrics": {}, "subsets": per}
        for part in ("systematicity", "productivity"):
            members = [v for k, v in per.items() if k.startswith(part + "/")]
            for k in KS:
                if members:
                    out["metrics"][f"{part}_recall@{k}"] = float(np.mean([m[f"recall@{k}"] for m in members]))
        for k in KS:
            parts = [out["metrics"][f"{p}_recall@{k}"] for p in ("systematicity", "productivity") if f"{p}_recall@{k}" in out["metrics"]]
            out["metrics"][f"recall@{k}"] = float(np.mean(parts))
        return out


def one2many_metrics(ranks: np.ndarray) -> dict[str, Any]:
    """get_one2many_metrics on 0-based ranks: R@k = mean(rank < k); mean / median rank 1-based."""
    out: dict[str, Any] = {f"recall@{k}": float(np.mean(ranks < k)) for k in KS}
    out["mean_rank"] = float(ranks.mean() + 1)
    out["median_rank"] = float(np.floor(np.median(ranks)) + 1)
    out["n"] = int(ranks.size)
    return out
