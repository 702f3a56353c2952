"""One table over many runs (CLIP_benchmark's `build_csv` habit): a row per (model, benchmark),
a column per metric; CSV for tools, Markdown for people."""

from __future__ import annotations

import csv
import io
from pathlib import Path
from typing import Any, Sequence

from eqvl.io import atomic_open

KEYS = ("model", "pretrained", "benchmark", "n_items")


def summary_rows(results: Sequence[dict[str, Any]]) -> tuple[list[str], list[dict[str, Any]]]:
    """Columns (the keys, then every numeric metric in first-seen order) and one row per run."""
    metrics: list[str] = []
    rows = []
    for res in results:
        row: dict[str, Any] = {"model": res.get("model"), "pretrained": res.get("pretrained"),
                               "benchmark": res.get("dataset"), "n_items": res.get("n_items")}
        for name, value in res.get("metrics", {}).items():
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                row[name] = value
                if name not in metrics:
                    metrics.append(name)
        rows.append(row)
    return [*KEYS, *metrics], rows


def summary_csv(results: Sequence[dict[str, Any]]) -> str:
    columns, rows = summary_rows(results)
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=columns, lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def summary_markdown(results: Sequence[dict[str, Any]]) -> str:
    """A section per benchmark (their metrics differ): models as rows, metrics as columns (% for rates)."""
    by_bench: dict[str, list[dict[str, Any]]] = {}
    for res in results:
        by_bench.setdefault(str(res.get("dataset")), []).append(res)
    parts = []
    for bench, runs in by_bench.items():
        columns, rows = summary_rows(runs)
        metrics = columns[len(KEYS):]
        lines = [f"### {bench}", "", "| model | pretrained | n | " + " | ".join(metrics) + " |",
                 "|---|---|--:|" + "--:|" * len(metrics)]
        for row in rows:
            cells = [_cell(m, row[m]) if m in row else "" for m in metrics]
            lines.append(f"| {row['model']} | {row['pretrained']} | {row['n_items']} | " + " | ".join(cells) + " |")
        parts.append("\n".join(lines))
    return "\n\n".join(parts) + "\n\nrates in %; equivariance gaps and *_mean values raw\n"


def _cell(name: str, value: float) -> str:
    """Fractions (accuracies, recalls) as %; gaps and means raw, as `eqvl eval` prints them."""
    if value != value:  # NaN
        return "n/a"
    raw = name.endswith("_mean") or name.startswith(("equivariance", "n_"))
    return f"{value:.4f}" if raw else f"{100 * value:.1f}"


def write_summary(path: str | Path, results: Sequence[dict[str, Any]]) -> Path:
    """`.csv` -> CSV, `.md` -> Markdown; written atomically (callers check overwriting first)."""
    path = Path(path)
    text = summary_csv(results) if path.suffix.lower() == ".csv" else summary_markdown(results)
    with atomic_open(path, "w", encoding="utf-8") as handle:
        handle.write(text)
    return path
