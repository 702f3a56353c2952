"""VALSE: a caption and a foil that differs in one linguistic phenomenon (existence,
plurality, counting, relations, actions, coreference, FOIL-it).

Pairwise accuracy (s(caption) > s(foil)) works for any scorer and is reported per
instrument (file), per phenomenon (mean of its instruments) and overall, on the validated examples
(mturk.caption >= 2) as in the paper. acc = (pc + pf) / 2 and min(pc, pf) threshold
scores at 0.5, so they are computed only for probability-valued scorers.
"""

from __future__ import annotations

from collections import OrderedDict
from pathlib import Path
from typing import Any

import numpy as np

from eqvl import metrics
from eqvl.benchmarks._common import read_json_keyed, as_bool, check_options, layout_error, stack_scores, summarize, text_field
from eqvl.benchmarks.base import Benchmark, BenchmarkData, register_benchmark
from eqvl.data.records import ImageRef, ScoreItem
from eqvl.errors import DataError, EqvlError

#: instrument -> (phenomenon, accepted file stems: the release's and the eval script's spellings)
INSTRUMENTS: "OrderedDict[str, tuple[str, tuple[str, ...]]]" = OrderedDict(
    [
        ("existence", ("existence", ("existence",))),
        ("plurals", ("plurality", ("plurals",))),
        ("counting-hard", ("counting", ("counting-hard", "counting_hard"))),
        ("counting-small-quant", ("counting", ("counting-small-quant", "counting_small_quant", "counting-small"))),
        ("counting-adversarial", ("counting", ("counting-adversarial", "counting_adversarial"))),
        ("relations", ("relations", ("relations", "relation"))),
        ("action-replacement", ("actions", ("action-replacement", "action_replacement"))),
        ("actant-swap", ("actions", ("actant-swap", "actant_swap"))),
        ("coreference-standard", ("coreference", ("coreference-standard", "coreference_standard"))),
        ("coreference-hard", ("coreference", ("coreference-hard", "coreference_hard"))),
        ("foil-it", ("foil-it", ("foil-it", "foil_it"))),
    ]
)


def parse_image_dirs(value: Any) -> dict[str, str]:
    """`image_dirs` maps a source dataset (e.g. SWiG, visual7w, COCO) or an instrument name to
    its image folder: a dict, or "name=path,name=path" from the command line."""
    if value is None or value == "":
        return {}
    if isinstance(value, dict):
        pairs = list(value.items())
    else:
        pairs = []
        for part in str(value).split(","):
            if "=" not in part:
                raise EqvlError(f"valse: image_dirs expects name=path pairs separated by commas, got {part!r}")
            k, v = part.split("=", 1)
            pairs.append((k, v))
    return {str(k).strip().lower(): str(v).strip() for k, v in pairs}


def _find(folder: Path, stems: tuple[str, ...]) -> Path | None:
    for stem in stems:
        for base in (folder, folder / "data"):
            if (base / f"{stem}.json").is_file():
                return base / f"{stem}.json"
    return None


def read_instrument(path: Path, instrument: str, image_root: Path, dirs: dict[str, str], validated_only: bool) -> tuple[list[ScoreItem], int]:
    """Items of one instrument file, and how many examples the vote filter dropped."""
    ann = read_json_keyed(path)
    if not isinstance(ann, dict):
        raise DataError(f"expected an object keyed by example id, got {type(ann).__name__}", path=str(path))
    phenomenon = INSTRUMENTS[instrument][0]
    items, dropped = [], 0
    for key, rec in ann.items():
        where = f"[{key!r}]."
        if not isinstance(rec, dict):
            raise DataError("expected an object per example", path=str(path), field=f"[{key!r}]")
        votes = rec.get("mturk")
        if validated_only and isinstance(votes, dict) and "caption" in votes:
            try:
                if int(votes["caption"]) < 2:
                    dropped += 1
                    continue
            except (TypeError, ValueError):
                raise DataError("mturk.caption must be a vote count", path=str(path), field=f"[{key!r}].mturk.caption") from None
        caption = rec.get("caption")
        if isinstance(caption, list):  # some files hold a list; the official scripts use its first entry
            caption = caption[0] if caption else ""
        caption = text_field({"caption": caption}, "caption", path, where=where)
        foil = rec.get("foil")
        if isinstance(foil, list):
            foil = foil[0] if foil else ""
        foil = text_field({"foil": foil}, "foil", path, where=where)
        image_file = text_field(rec, "image_file", path, where=where)
        source = str(rec.get("dataset", "")).lower()
        folder = dirs.get(instrument) or dirs.get(source) or str(image_root)
        items.append(ScoreItem(id=f"{instrument}/{key}", images=[ImageRef(str(Path(folder) / image_file))], captions=[caption, foil],
                               subset=instrument, meta={"phenomenon": phenomenon, "dataset": rec.get("dataset")}))
    return items, dropped


def phenomenon_rows(instrument_rows: dict[str, dict], item_phenomena: list[str], pairwise: np.ndarray) -> dict[str, dict]:
    """One row per phenomenon (VALSE's 'piece'): `pairwise_acc` is the unweighted mean of its
    instruments' accuracies, the way VALSE reports a piece (its scripts score each instrument
    file on its own; the paper's Avg. is the mean over instrument columns), so a large
    instrument does not drown a small one. `pairwise_acc_pooled` pools the piece's items."""
    pooled = summarize(item_phenomena, {"pairwise_acc": pairwise})["subsets"]
    per_phen: "OrderedDict[str, list[float]]" = OrderedDict()
    for instrument, (phenomenon, _) in INSTRUMENTS.items():
        if instrument in instrument_rows:
            per_phen.setdefault(phenomenon, []).append(instrument_rows[instrument]["pairwise_acc"])
    return {
        phen: {"pairwise_acc": float(np.mean(accs)), "pairwise_acc_pooled": pooled[phen]["pairwise_acc"],
               "n": pooled[phen]["n"], "instruments": len(accs)}
        for phen, accs in per_phen.items()
    }


@register_benchmark("valse")
class ValseBenchmark(Benchmark):
    layout = (
        "a folder (or its data/ subfolder) with the per-instrument JSONs: "
        + ", ".join(f"{k}.json" for k in INSTRUMENTS)
        + "\n  each {id: {dataset, image_file, caption, foil, mturk: {caption, foil, other}, ...}};\n"
        "  images: image_root= (default <data>/images or <data>) and image_dirs=SWiG=/p,visual7w=/q,foil-it=/coco/val2014\n"
        "  (keys: source dataset or instrument); instrument=a,b picks files; validated_only=false keeps unvalidated\n"
        "  examples; probability_metrics=true adds acc and min(pc, pf) (probability scorers only)"
    )
    OPTIONS = ("image_root", "image_dirs", "instrument", "validated_only", "probability_metrics")

    def load(self, data_dir: Path, **options: Any) -> BenchmarkData:
        check_options(self.name, options, self.OPTIONS)
        data_dir = Path(data_dir)
        if not data_dir.is_dir():
            raise DataError("expected a folder holding the VALSE instrument JSONs", path=str(data_dir))
        wanted = list(INSTRUMENTS)
        if options.get("instrument"):
            wanted = [s.strip() for s in str(options["instrument"]).split(",") if s.strip()]
            bad = [s for s in wanted if s not in INSTRUMENTS]
            if bad:
                raise EqvlError(f"valse: unknown instrument(s) {', '.join(bad)}; valid: {', '.join(INSTRUMENTS)}")
        if not any(_find(data_dir, stems) for _, stems in INSTRUMENTS.values()):
            raise layout_error(self.name, data_dir, self.layout)
        found = {name: _find(data_dir, INSTRUMENTS[name][1]) for name in wanted}
        if options.get("instrument"):
            missing = [n for n, p in found.items() if p is None]
            if missing:
                raise DataError(f"no file for instrument(s) {', '.join(missing)}", path=str(data_dir))
        root = Path(options["image_root"]) if options.get("image_root") else (data_dir / "images" if (data_dir / "images").is_dir() else data_dir)
        dirs = parse_image_dirs(options.get("image_dirs"))
        validated = as_bool(options.get("validated_only", True), "validated_only")
        items: list[ScoreItem] = []
        dropped: dict[str, int] = {}
        for name, path in found.items():
            if path is None:
                continue
            got, dropped[name] = read_instrument(path, name, root, dirs, validated)
            items.extend(got)
        if not items:
            raise DataError("no examples left (after the mturk.caption >= 2 filter)", path=str(data_dir))
        meta = {
            "instruments": [n for n, p in found.items() if p is not None],
            "dropped_unvalidated": dropped,
            "probability_metrics": as_bool(options.get("probability_metrics", False), "probability_metrics"),
        }
        return BenchmarkData(items=items, meta=meta)

    def evaluate(self, data: BenchmarkData, scores: list[np.ndarray]) -> dict[str, Any]:
        kind = data.score_kind
        want_prob = bool(data.meta.get("probability_metrics"))
        if want_prob and kind != "probability":
            raise EqvlError(
                f"valse: acc and min(pc, pf) threshold scores at 0.5 and are meaningless for a {kind or 'unknown'}-valued scorer; "
                "drop probability_metrics or use a scorer whose score_kind is 'probability'"
            )
        s = stack_scores(scores, len(data.items), (2, 1), self.name)
        pairwise = metrics.pairwise_accuracy(s)
        instruments = [it.subset for it in data.items]
        out = summarize(instruments, {"pairwise_acc": pairwise}, order=list(INSTRUMENTS))
        per_inst = [v["pairwise_acc"] for v in out["subsets"].values()]
        out["metrics"]["pairwise_acc_macro"] = float(np.mean(per_inst)) if per_inst else float("nan")
        out["phenomena"] = phenomenon_rows(out["subsets"], [it.meta["phenomenon"] for it in data.items], pairwise)
        if kind == "probability":
            p_true, p_foil = s[:, 0, 0], s[:, 1, 0]
            prob = metrics.probability_scores(p_true, p_foil)
            out["metrics"].update({"acc": prob["acc"], "min_pc_pf": prob["min_pc_pf"], "pc": prob["pc"], "pf": prob["pf"]})
            for name, vals in out["subsets"].items():
                mask = np.array([i == name for i in instruments])
                sub = metrics.probability_scores(p_true[mask], p_foil[mask])
                vals.update({"acc": sub["acc"], "min_pc_pf": sub["min_pc_pf"]})
        out["dropped_unvalidated"] = dict(data.meta.get("dropped_unvalidated", {}))
        return out
