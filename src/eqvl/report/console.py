"""Readable terminal tables for `eqvl eval` results (rich): overall row + one row per subset."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console
from rich.table import Table


def is_rate(name: str) -> bool:
    """Accuracy-like metrics are fractions shown as %; gaps/means/counts are shown raw."""
    return not (name.endswith("_mean") or name.startswith("equivariance") or name in {"n", "n_items"})


def format_value(name: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if name == "n" or isinstance(value, int):
        return str(value)
    return f"{100 * value:.1f}" if is_rate(name) else f"{value:.4f}"


def results_table(results: dict[str, Any]) -> Table:
    """One table: columns = metrics, rows = overall + subsets."""
    metrics = {k: v for k, v in results.get("metrics", {}).items() if isinstance(v, (int, float))}
    subsets = results.get("subsets") or {}
    names = list(metrics)
    for sub in subsets.values():
        names += [k for k in sub if k != "n" and k not in names and isinstance(sub[k], (int, float))]
    title = f"{results.get('dataset')} | {results.get('model')} ({results.get('pretrained')})"
    table = Table(title=title, caption="rates in %, *_mean columns raw")
    table.add_column("subset", style="bold")
    table.add_column("n", justify="right")
    for name in names:
        table.add_column(name, justify="right")
    overall_n = results.get("n_items", "")
    table.add_row("overall", str(overall_n), *[format_value(n, metrics.get(n, float("nan"))) for n in names])
    for sub_name, sub in subsets.items():
        table.add_row(sub_name, str(sub.get("n", "")), *[format_value(n, sub.get(n, float("nan"))) for n in names])
    return table


def print_results(results: dict[str, Any], console: Console | None = None) -> None:
    """Print the metrics table plus one line on skipped records and cache use."""
    console = console or Console()
    console.print(results_table(results))
    skipped = results.get("skipped")
    if skipped and skipped.get("n"):
        console.print(f"[yellow]skipped {skipped['n']} record(s) with unreadable images (listed in the results JSON)[/]")
    enc = results.get("encoding") or {}
    parts = [f"{kind}: {s.get('unique', 0)} unique, {s.get('cached', 0)} from cache, {s.get('encoded', 0)} encoded"
             for kind, s in enc.items() if isinstance(s, dict)]
    if parts:
        console.print("; ".join(parts), style="dim")
