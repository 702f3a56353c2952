"""SPEC (Peng et al., CVPR 2024): six synthetic subsets probing size, position, existence and count,
each an image-to-text and a text-to-image multiple choice.

Layout as `spec/dataset.py` reads it: `<data>/<subset>/image2text.json` (`[{query: image path,
keys: [captions], label}]`) and `text2image.json` (`[{query: caption, keys: [image paths], label}]`),
paths relative to the subset folder. Scored as the wrappers' `i2t_evaluate` / `t2i_evaluate`:
right when `argmax(scores) == label`, torch's argmax taking the FIRST maximum, so a tie counts as
right when the label is the first of the tied candidates (option ties=strict: a tie is wrong);
`eval.py`'s "average all subset" is the plain mean of the subsets' accuracies.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from eqvl.benchmarks._common import check_options, chosen_subsets, layout_error, read_json_keyed, text_field
from eqvl.benchmarks.base import Benchmark, BenchmarkData, register_benchmark
from eqvl.data.records import ImageRef, ScoreItem
from eqvl.errors import DataError, EqvlError
from eqvl.metrics import mean_of

SUBSETS = ("absolute_size", "relative_size", "absolute_spatial", "relative_spatial", "existence", "count")
FILES = {"i2t": "image2text.json", "t2i": "text2image.json"}
TIES = ("first", "strict")


def choice_correct(scores: np.ndarray, label: int, strict: bool) -> bool:
    """SPEC's rule: argmax (first maximum, as torch.argmax) == label; strict: the label alone is the maximum."""
    scores = np.asarray(scores, dtype=np.float64).reshape(-1)
    if strict:
        return bool(scores[label] > np.delete(scores, label).max())
    return int(np.argmax(scores)) == label


def _read(path: Path, subset: str, direction: str) -> list[ScoreItem]:
    records = read_json_keyed(path)
    if not isinstance(records, list) or not records:
        raise DataError("expected a non-empty JSON list of {query, keys, label}", path=str(path))
    root = path.parent
    items = []
    for k, rec in enumerate(records):
        where = f"[{k}]."
        if not isinstance(rec, dict):
            raise DataError(f"record {k}: expected an object {{query, keys, label}}", path=str(path), field=f"[{k}]")
        query = text_field(rec, "query", path, where=where)
        keys = rec.get("keys")
        if not isinstance(keys, list) or len(keys) < 2 or not all(isinstance(x, str) and x.strip() for x in keys):
            raise DataError(f"record {k}: keys must be a list of at least 2 non-empty strings", path=str(path), field=f"{where}keys")
        label = rec.get("label")
        if isinstance(label, bool) or not isinstance(label, int) or not 0 <= label < len(keys):
            raise DataError(f"record {k}: label must be an index into keys (0..{len(keys) - 1}), got {label!r}",
                            path=str(path), field=f"{where}label")
        if direction == "i2t":
            images, captions = [ImageRef(str(root / query))], list(keys)
        else:
            images, captions = [ImageRef(str(root / key)) for key in keys], [query]
        items.append(ScoreItem(id=f"{subset}/{direction}/{k}", images=images, captions=captions, subset=subset,
                               meta={"direction": direction, "label": label}))
    return items


@register_benchmark("spec")
class SpecBenchmark(Benchmark):
    reads_subsets = True
    headline = "i2t_acc"
    layout = (
        "the SPEC data folder (data.zip unpacked): <subset>/image2text.json ([{query: image, keys: [captions], label}])\n"
        "  and <subset>/text2image.json ([{query: caption, keys: [images], label}]) for the subsets absolute_size,\n"
        "  relative_size, absolute_spatial, relative_spatial, existence, count; paths relative to the subset folder;\n"
        "  options subset=count,... (default: all six), ties=first (official: torch.argmax) | strict"
    )

    @classmethod
    def detect(cls, folder: Path) -> bool:
        return any((folder / s / "image2text.json").is_file() for s in SUBSETS)

    def load(self, data_dir: Path, **options: Any) -> BenchmarkData:
        check_options(self.name, options, ["subset", "ties"])
        root = Path(data_dir)
        if not root.is_dir():
            raise DataError("expected the SPEC data folder (one sub-folder per subset)", path=str(root))
        if not self.detect(root) and self.detect(root / "data"):
            root = root / "data"
        if root.name in SUBSETS and (root / FILES["i2t"]).is_file() and not options.get("subset"):
            root, options = root.parent, {**options, "subset": root.name}  # one subset's folder
        if not self.detect(root):
            raise layout_error(self.name, data_dir, self.layout)
        ties = str(options.get("ties") or "first")
        if ties not in TIES:
            raise EqvlError(f"spec: ties must be first or strict, got {ties!r}")
        wanted = chosen_subsets(self.name, options.get("subset"), SUBSETS)
        missing = [f"{s}/{f}" for s in wanted for f in FILES.values() if not (root / s / f).is_file()]
        if missing:
            raise DataError(f"missing {', '.join(missing)} (pass subset= to evaluate only some subsets)", path=str(root))
        items = [it for s in wanted for d, f in FILES.items() for it in _read(root / s / f, s, d)]
        return BenchmarkData(items=items, meta={"source": str(root), "ties": ties, "subsets": list(wanted)})

    def evaluate(self, data: BenchmarkData, scores: list[np.ndarray]) -> dict[str, Any]:
        if len(scores) != len(data.items):
            raise EqvlError(f"spec: got {len(scores)} score arrays for {len(data.items)} items")
        strict = data.meta.get("ties") == "strict"
        right: dict[str, dict[str, list[bool]]] = {"i2t": {}, "t2i": {}}  # direction -> subset -> flags
        for item, s in zip(data.items, scores):
            d = item.meta["direction"]
            right[d].setdefault(item.subset, []).append(choice_correct(s, item.meta["label"], strict))
        order = [s for s in SUBSETS if s in right["i2t"] or s in right["t2i"]]
        subsets = {}
        for name in order:
            i2t, t2i = np.asarray(right["i2t"].get(name, [])), np.asarray(right["t2i"].get(name, []))
            subsets[name] = {"i2t_acc": mean_of(i2t), "t2i_acc": mean_of(t2i), "n_i2t": int(i2t.size),
                             "n_t2i": int(t2i.size), "n": int(i2t.size + t2i.size)}
        out: dict[str, Any] = {"metrics": {}, "subsets": subsets}
        for d in ("i2t", "t2i"):
            per = [v[f"{d}_acc"] for v in subsets.values() if v[f"n_{d}"]]
            out["metrics"][f"{d}_acc"] = float(np.mean(per)) if per else float("nan")  # eval.py: mean over subsets
            pooled = [f for flags in right[d].values() for f in flags]
            out["metrics"][f"{d}_acc_micro"] = mean_of(np.asarray(pooled))
        out["ties"] = data.meta.get("ties", "first")
        return out

