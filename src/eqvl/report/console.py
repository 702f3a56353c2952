"""Readable terminal tables for `eqvl eval` results (rich): overall row + one row per subset."""

from __future__ import annotations

import math
from typing import Any

from rich.console import Console
from rich.table import Table


def is_rate(name: str) -> bool:
    """Accuracy-like metrics are fractions shown as %; gaps/means/counts are shown raw."""
    return not (name.endswith("_mean") or name.startswith(("equivariance", "n_")) or name == "n")


def format_value(name: str, value: Any) -> str:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return str(value)
    if isinstance(value, float) and math.isnan(value):
        return "n/a"
    if name == "n" or isinstance(value, int) or not is_rate(name) and float(value).is_integer():
        return str(value)
    return f"{100 * value:.1f}" if is_rate(name) else f"{value:.4f}"


def results_table(results: dict[str, Any]) -> Table:
    """Overall + per-subset metrics, laid out with whichever of metrics / subsets is shorter as columns."""
    metrics = {k: v for k, v in results.get("metrics", {}).items() if isinstance(v, (int, float))}
    subsets = results.get("subsets") or {}
    names = list(metrics)
    for sub in subsets.values():
        names += [k for k in sub if k != "n" and k not in names and isinstance(sub[k], (int, float))]
    groups = {"overall": {**metrics, "n": results.get("n_items", "")}, **subsets}
    title = f"{results.get('dataset')} | {results.get('model')} ({results.get('pretrained')})"
    table = Table(title=title, caption="rates in %; equivariance gaps and *_mean values raw")
    if len(names) > len(groups):  # metrics as rows, subsets as columns
        table.add_column("metric", style="bold", no_wrap=True)
        for group in groups:
            table.add_column(group, justify="right", overflow="fold")
        for name in ["n", *names]:
            table.add_row(name, *[format_value(name, g.get(name, float("nan"))) for g in groups.values()])
        return table
    table.add_column("subset", style="bold", no_wrap=True)
    table.add_column("n", justify="right", no_wrap=True)
    for name in names:
        table.add_column(name, justify="right", overflow="fold")  # long metric names wrap, never vanish
    for group, values in groups.items():
        table.add_row(group, str(values.get("n", "")), *[format_value(n, values.get(n, float("nan"))) for n in names])
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
