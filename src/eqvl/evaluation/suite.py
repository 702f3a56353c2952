"""`--benchmark suite`: every benchmark found under one root, and the one-line-per-model table
papers print (a headline number per benchmark plus their mean, the "compositionality average").

The root holds one sub-folder per benchmark, named as `eqvl benchmarks` lists them (`-` or `_`
both accepted); a benchmark without its folder is skipped and listed, not an error.
"""

from __future__ import annotations

import csv
import io
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from eqvl.errors import DataError
from eqvl.io import atomic_open

SUITE = "suite"
#: the headline of readers that do not set `Benchmark.headline`: a metric, or a tuple whose mean is taken
HEADLINES: dict[str, str | tuple[str, ...]] = {
    "winoground": "group", "eqben": "group", "twins": "group", "valse": "pairwise_acc_macro", "sugarcrepe": "acc",
    "foils": "acc", "triplets": "joint_acc", "hardpos": "joint_acc",
    "aro": ("vg_relation", "vg_attribution", "coco_order", "flickr30k_order"),
}
#: benchmarks whose task is compositionality enter the mean; others (retrieval, grounding) are shown beside it
MEAN_TASK = "compositionality"


@dataclass
class SuitePlan:
    """What `find_benchmarks` found under the root: (benchmark, folder) pairs and the names skipped."""

    root: Path
    found: list[tuple[str, Path]] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def find_benchmarks(root: str | Path) -> SuitePlan:
    """Each registered benchmark whose sub-folder (or file) `root/<name>` exists, in registry order."""
    from eqvl.benchmarks import list_benchmarks

    root = Path(root)
    if not root.is_dir():
        raise DataError("`benchmark` suite needs a folder with one sub-folder per benchmark", path=str(root), params=("benchmark",))
    plan = SuitePlan(root)
    for name in list_benchmarks():
        spellings = dict.fromkeys([name, name.replace("-", "_"), name.replace("_", "-"), name.replace("++", "_pp")])
        hit = next((root / s for s in spellings if (root / s).exists()), None)
        if hit is None:
            plan.skipped.append(name)
        else:
            plan.found.append((name, hit))
    if not plan.found:
        raise DataError("no benchmark folder found; expected sub-folders named as `eqvl benchmarks` lists them, e.g. "
                        "vl-checklist/, winoground/, sugarcrepe/", path=str(root))
    return plan


def headline(results: dict[str, Any]) -> tuple[str, float]:
    """(metric name, value) of one run's results JSON."""
    from eqvl.benchmarks import get_benchmark

    name = str(results.get("dataset"))
    metrics = results.get("metrics") or {}
    try:
        key: str | tuple[str, ...] = get_benchmark(name).headline or HEADLINES.get(name, "")
    except Exception:  # a results file of a benchmark this eqvl does not know
        key = HEADLINES.get(name, "")
    if isinstance(key, tuple):
        vals = [float(metrics[k]) for k in key if k in metrics]
        return "mean(" + ",".join(k for k in key if k in metrics) + ")", (sum(vals) / len(vals) if vals else math.nan)
    if not key or key not in metrics:
        key = next(iter(metrics), "")
    return key, float(metrics.get(key, math.nan))


def suite_rows(results: Sequence[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """Benchmark columns in first-seen order and one row per (model, pretrained) with their mean."""
    benches: list[str] = []
    rows: dict[tuple[str, str], dict[str, Any]] = {}
    for res in results:
        bench = str(res.get("dataset"))
        if bench not in benches:
            benches.append(bench)
        row = rows.setdefault((str(res.get("model")), str(res.get("pretrained"))),
                              {"model": res.get("model"), "pretrained": res.get("pretrained"), "_in_mean": []})
        metric, value = headline(res)
        row[bench] = value
        row[f"{bench}:metric"] = metric
        if res.get("task", MEAN_TASK) == MEAN_TASK and not math.isnan(value):
            row["_in_mean"].append(value)
    for row in rows.values():
        used = row.pop("_in_mean")
        row["mean"] = sum(used) / len(used) if used else math.nan
        row["n_in_mean"] = len(used)
    return benches, list(rows.values())


def suite_markdown(results: Sequence[dict[str, Any]], skipped: Sequence[str] = ()) -> str:
    benches, rows = suite_rows(results)
    heads = [f"{b} ({rows[0].get(b + ':metric', '')})" if rows else b for b in benches]
    lines = ["| model | pretrained | " + " | ".join(heads) + " | mean |", "|---|---|" + "--:|" * (len(benches) + 1)]
    for row in rows:
        cells = [_pct(row.get(b, math.nan)) for b in benches] + [_pct(row["mean"])]
        lines.append(f"| {row['model']} | {row['pretrained']} | " + " | ".join(cells) + " |")
    notes = ["", "accuracies in %; mean = mean of the compositionality benchmarks' headline numbers above"]
    if skipped:
        notes.append(f"skipped (no folder under the suite root): {', '.join(skipped)}")
    return "\n".join(lines + notes) + "\n"


def suite_csv(results: Sequence[dict[str, Any]]) -> str:
    benches, rows = suite_rows(results)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["model", "pretrained", *benches, "mean"])
    for row in rows:
        writer.writerow([row["model"], row["pretrained"], *[row.get(b, "") for b in benches], row["mean"]])
    return out.getvalue()


def write_suite_summary(path: str | Path, results: Sequence[dict[str, Any]], skipped: Sequence[str] = ()) -> Path:
    """`.csv` -> CSV, otherwise Markdown; atomic (callers check overwriting first)."""
    path = Path(path)
    text = suite_csv(results) if path.suffix.lower() == ".csv" else suite_markdown(results, skipped)
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path


def _pct(value: float) -> str:
    return "n/a" if value != value else f"{100 * value:.1f}"
