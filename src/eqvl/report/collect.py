"""Turn `eqvl eval` outputs (CLIP_benchmark-style result JSONs, optional per-sample score
files) into a `Report`: one table + subset bar chart per dataset, equivariance-score
distributions where twin scores are given."""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from eqvl.errors import DataError, EqvlError
from eqvl.io import read_json
from eqvl.metrics import chance_level, equivariance_scores
from eqvl.report import plots
from eqvl.report.document import Details, Figure, Report, Table

log = logging.getLogger(__name__)

#: the headline metric of each result kind, first match wins (keys from contracts.md)
MAIN_METRICS = ("group", "joint_acc", "acc", "image_retrieval_recall@1", "text_retrieval_recall@1")


@dataclass
class Run:
    """One results JSON, its display label and (optionally) its per-twin score array [N, 2, 2]."""

    label: str
    results: dict[str, Any]
    source: str = ""
    twin_scores: np.ndarray | None = None
    twin_subsets: np.ndarray | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def load_results(path: str | Path) -> dict[str, Any]:
    """Read and minimally validate one results JSON (needs `dataset` and a `metrics` dict)."""
    obj = read_json(path)
    if not isinstance(obj, dict):
        raise DataError("expected a JSON object (an `eqvl eval` results file)", path=str(path))
    for key in ("dataset", "metrics"):
        if key not in obj:
            raise DataError("missing required field (is this an `eqvl eval` results file?)", path=str(path), field=key)
    if not isinstance(obj["metrics"], dict):
        raise DataError("expected an object", path=str(path), field="metrics")
    return obj


class NotTwinScores(DataError):
    """A readable score file without a [N, 2, 2] twin array (e.g. a triplets benchmark's): `eqvl report`
    skips it with a note, so `--scores runs/*.npz` works on a folder of mixed benchmarks."""


def load_twin_scores(path: str | Path) -> tuple[np.ndarray, np.ndarray | None]:
    """Read per-twin scores [N, 2, 2] (and per-twin subset names if stored) from an .npz or .npy."""
    path = Path(path)
    if not path.is_file():
        raise DataError("file not found", path=str(path))
    try:
        data = np.load(path, allow_pickle=False)
    except Exception as exc:  # numpy raises several types for a bad file
        raise DataError(f"not a numpy .npz/.npy file: {exc}", path=str(path)) from None
    if isinstance(data, np.ndarray):
        arrays = {"scores": data}
    else:
        arrays = {k: data[k] for k in data.files}
    subsets = None
    for key in ("subsets", "subset"):
        if key in arrays and arrays[key].ndim == 1:
            subsets = arrays[key].astype(str)
    candidates = [k for k in ("scores", "twins", *arrays) if k in arrays and arrays[k].ndim == 3 and arrays[k].shape[1:] == (2, 2)]
    if not candidates:
        shapes = ", ".join(f"{k}{tuple(v.shape)}" for k, v in arrays.items())
        raise NotTwinScores(f"no twin score array shaped [N, 2, 2] (found {shapes or 'nothing'}); `scores` takes "
                            "the `scores_out` files of twins benchmarks only", path=str(path), params=("scores", "scores_out"))
    scores = arrays[candidates[0]].astype(np.float64)
    if subsets is not None and len(subsets) != len(scores):
        subsets = None
    return scores, subsets


def runs_from_files(result_paths: Sequence[str | Path], score_paths: Sequence[str | Path] = (),
                    labels: Sequence[str] = ()) -> list[Run]:
    """Pair result files with score files (by file stem, else by order) and label each run."""
    if labels and len(labels) != len(result_paths):
        raise EqvlError(f"got {len(labels)} labels for {len(result_paths)} results files")
    runs = [Run(label="", results=load_results(p), source=str(p)) for p in result_paths]
    for run, label in zip(runs, labels or [""] * len(runs)):
        run.label = label
    _auto_labels(runs)
    from eqvl.evaluation.score_files import check_scores_match  # refuses scores of another run

    loaded = {}
    for spath in score_paths:
        try:
            loaded[str(spath)] = load_twin_scores(spath)
        except NotTwinScores as exc:
            log.warning("%s; skipped", exc, extra={"params": exc.params})
    for i, spath in _pair_scores(result_paths, [p for p in score_paths if str(p) in loaded]).items():
        twin_scores, runs[i].twin_subsets = loaded[str(spath)]
        runs[i].twin_scores = twin_scores
        check_scores_match(spath, len(twin_scores), runs[i].results, result_paths[i])
    return runs


def _pair_scores(result_paths: Sequence, score_paths: Sequence) -> dict[int, Path]:
    if not score_paths:
        return {}
    stems = {Path(p).stem: i for i, p in enumerate(result_paths)}
    pairs: dict[int, Path] = {}
    for sp in score_paths:
        stem = Path(sp).stem
        for cand in (stem, stem.removesuffix(".scores"), stem.removesuffix("_scores"), stem.removesuffix("-scores")):
            if cand in stems:
                pairs[stems[cand]] = Path(sp)
                break
    if len(pairs) == len(score_paths):
        return pairs
    if len(score_paths) == len(result_paths):
        return {i: Path(sp) for i, sp in enumerate(score_paths)}
    raise EqvlError("cannot pair `scores` files with results: name them like the results file "
                    "(results.json -> results.npz) or give one per results file, in the same order", params=("scores",))


def _auto_labels(runs: list[Run]) -> None:
    for run in runs:
        if not run.label:
            model = str(run.results.get("model", "?"))
            pre = str(run.results.get("pretrained", "") or "")
            pre = Path(pre).name if ("/" in pre or "\\" in pre) else pre
            run.label = f"{model} ({pre})" if pre and pre != "none" else model
    seen: dict[tuple[str, str], int] = {}  # one model on several benchmarks keeps one label (model x benchmark)
    for run in runs:
        key = (str(run.results.get("dataset")), run.label)
        seen[key] = seen.get(key, 0) + 1
    for run in runs:
        if seen[(str(run.results.get("dataset")), run.label)] > 1 and run.source:
            run.label = f"{run.label} [{Path(run.source).stem}]"


def main_metric(metrics: dict[str, Any]) -> str | None:
    for key in MAIN_METRICS:
        if key in metrics:
            return key
    return next((k for k, v in metrics.items() if isinstance(v, (int, float))), None)


def sig(value: float, digits: int = 3) -> str:
    """`digits` significant digits: 2e-4 reads 0.0002, not 0.000 (scales of models differ by orders of magnitude)."""
    return f"{value:.{digits}g}"


def fmt(metric: str, value: Any) -> str:
    """Fractions as percentages; counts as integers; equivariance gaps as raw numbers."""
    if value is None or (isinstance(value, float) and not np.isfinite(value)):
        return "–"
    if not isinstance(value, (int, float)):
        return str(value)
    if metric == "n":
        return str(int(value))
    if metric.startswith("equivariance") or "loss" in metric:
        return sig(value)
    return f"{100.0 * value:.1f}"


def build_eval_report(runs: Sequence[Run], title: str = "eqvl evaluation report") -> Report:
    """One section per dataset (metrics table, per-subset table + bar chart, equivariance
    distributions when twin scores are given) and a list of sources."""
    if not runs:
        raise EqvlError("no results to report")
    report = Report(title=title, subtitle="Percentages unless noted; equivariance scores are |score gaps| (0 = equivariant).")
    by_dataset: dict[str, list[Run]] = {}
    for run in runs:
        by_dataset.setdefault(str(run.results["dataset"]), []).append(run)
    if len({r.label for r in runs}) > 1 and len(runs) > len(by_dataset):
        _overview_section(report, by_dataset)
    for k, (dataset, group) in enumerate(by_dataset.items()):
        _dataset_section(report, dataset, group, k)
    sources = report.section("Sources")
    sources.add(Table(["run", "file", "data", "model", "pretrained", "eqvl version"],
                      [[r.label, r.source, _data_path(r.results), str(r.results.get("model", "")),
                        str(r.results.get("pretrained", "")), str(r.results.get("eqvl_version", ""))] for r in runs]))
    configs = {r.label: r.results.get("config") for r in runs if r.results.get("config")}
    if configs:
        sources.add(Details("Each run's configuration (JSON)", json.dumps(configs, indent=1, default=str)))
    return report


def _overview_section(report: Report, by_dataset: dict[str, list[Run]]) -> None:
    """Several models: one row per model, one column per benchmark (its headline metric), one chart."""
    models = list(dict.fromkeys(r.label for group in by_dataset.values() for r in group))
    heads = {d: main_metric(g[0].results["metrics"]) for d, g in by_dataset.items()}
    value = {(r.label, d): r.results["metrics"].get(heads[d]) for d, g in by_dataset.items() for r in g}
    sec = report.section("Overview: models × benchmarks")
    sec.add(Table(["model", *(f"{d} {heads[d]}" for d in by_dataset)],
                  [[m, *(fmt(heads[d] or "", value.get((m, d))) for d in by_dataset)] for m in models],
                  caption="Headline metric per benchmark (%); details per benchmark below"))
    plotted = [d for d in by_dataset if (head := heads[d]) and not head.startswith("equivariance")]
    if plotted:
        chances = [chance_level(d, heads[d] or "") for d in plotted]
        series = {m: [_num(value.get((m, d))) for d in plotted] for m in models}
        png = plots.bar_chart([f"{d}\n{heads[d]}" for d in plotted], series, ylabel="score",
                              title="Headline metric per benchmark and model", chance=chances)
        sec.add(Figure("overview", png, "Headline metric per benchmark and model; dashed line: chance level where one "
                       "exists.", chance=_chance_words(chances)))


def _num(value: Any) -> float:
    return float(value) if isinstance(value, (int, float)) else float("nan")


def _chance_words(chances: Sequence[float | None]) -> str:
    return ", ".join(dict.fromkeys(f"{100 * c:.1f}%" for c in chances if c is not None))


def _data_path(results: dict[str, Any]) -> str:
    """The benchmark data a run read (absolute, from its provenance; else as it was given)."""
    made = results.get("provenance") or {}
    return str(made.get("data") or (results.get("config") or {}).get("data") or "")


def _dataset_section(report: Report, dataset: str, runs: list[Run], index: int) -> None:
    sec = report.section(f"{dataset}")
    metric_names: list[str] = []
    for run in runs:
        for key, val in run.results["metrics"].items():
            if key not in metric_names and isinstance(val, (int, float)):
                metric_names.append(key)
    sec.add(Table(["run", *metric_names], [[r.label, *(fmt(m, r.results["metrics"].get(m)) for m in metric_names)] for r in runs],
                  caption=f"{dataset}: overall metrics"))
    main = main_metric(runs[0].results["metrics"])
    subsets: list[str] = []
    for run in runs:
        for name in (run.results.get("subsets") or {}):
            if name not in subsets:
                subsets.append(name)
    if main and subsets:
        def sub_val(run: Run, name: str) -> float:
            val = ((run.results.get("subsets") or {}).get(name) or {}).get(main)
            return float(val) if isinstance(val, (int, float)) else float("nan")

        rows = [[r.label, *(fmt(main, sub_val(r, s)) for s in subsets)] for r in runs]
        ns = [((runs[0].results.get("subsets") or {}).get(s) or {}).get("n") for s in subsets]
        headers = ["run", *(f"{s} (n={n})" if n is not None else s for s, n in zip(subsets, ns))]
        sec.add(Table(headers, rows, caption=f"{dataset}: {main} per subset"))
        if not main.startswith("equivariance"):
            chance = chance_level(dataset, main)
            png = plots.bar_chart(subsets, {r.label: [sub_val(r, s) for s in subsets] for r in runs},
                                  ylabel=main, title=f"{dataset}: {main} per subset", chance=chance,
                                  chance_label=f"chance {100 * chance:.1f}%" if chance else "chance")
            note = f" Dashed line: chance ({100 * chance:.1f}%)." if chance else ""
            sec.add(Figure(f"subsets_{index}", png, f"{dataset}: {main} per subset and run.{note}",
                           chance=_chance_words([chance])))
    scored = [r for r in runs if r.twin_scores is not None]
    if scored:
        _equivariance_blocks(sec, scored, f"{dataset}", index)


def _equivariance_blocks(sec, runs: Sequence[Run], dataset: str, index: int) -> None:
    rows = []
    for side in ("image", "text"):
        samples = {}
        for run in runs:
            if run.twin_scores is None:  # the caller passes scored runs only
                continue
            eq = equivariance_scores(run.twin_scores)[side]
            samples[run.label] = eq
            rows.append([run.label, side, sig(np.mean(eq)), sig(np.median(eq)), sig(np.std(eq)), str(eq.size)])
        png = plots.distribution_plot(samples, xlabel=f"{side}-side equivariance score |Δs| (lower = more equivariant)",
                                      title=f"{dataset}: {side}-side equivariance-score distribution")
        panels = (" The runs' scales differ by more than 10x, so each has its own panel and x axis: compare shapes "
                  "across panels, sizes in the table." if plots.separate_scales(samples) else "")
        sec.add(Figure(f"equivariance_{side}_{index}", png,
                       f"Distribution of EqSim-v2 gaps per twin ({side} side), as in the EqSim paper's figure 6: "
                       "a tighter curve near 0 means a more equivariant similarity." + panels))
    sec.add(Table(["run", "side", "mean", "median", "std", "n"], rows, caption=f"{dataset}: equivariance scores"))
