"""Matplotlib (Agg) figures returned as PNG bytes: no display, no files, easy to embed."""

from __future__ import annotations

import io
from typing import Mapping, Sequence

import numpy as np


def _plt():
    import matplotlib

    matplotlib.use("Agg", force=True)
    import matplotlib.pyplot as plt

    return plt


#: figure width in inches (the layout's size; the PNG's pixel width is DISPLAY_PX whatever it is)
PAGE_WIDTH = 10.0
#: the HTML report's column width in CSS pixels: every PNG is rendered exactly this wide, never stretched
DISPLAY_PX = 1100
_PAD = 0.1  # inches around the tight bounding box


def _png(fig) -> bytes:
    """PNG bytes exactly DISPLAY_PX wide: the dpi is chosen from the tight bounding box (legends below the
    axes included), so the browser shows the image at its natural size instead of stretching it."""
    fig.canvas.draw()
    width_in = fig.get_tightbbox(fig.canvas.get_renderer()).width + 2 * _PAD
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=(DISPLAY_PX + 0.5) / width_in, bbox_inches="tight", pad_inches=_PAD)
    _plt().close(fig)
    return buf.getvalue()


def bar_chart(
    categories: Sequence[str],
    series: Mapping[str, Sequence[float]],
    *,
    errors: Mapping[str, Sequence[float]] | None = None,
    ylabel: str = "",
    title: str = "",
    percent: bool = True,
    chance: float | Sequence[float | None] | None = None,
    chance_label: str = "chance",
) -> bytes:
    """Grouped bars: one group per category, one bar per series (NaN bars are left out), each bar
    labelled with its value; the y-axis fits the values (bars of 1-3% stay visible). `chance` draws
    a dashed line at the chance level (one for all categories, or one per category, None = none)."""
    plt = _plt()
    names = list(series)
    width = 0.8 / max(1, len(names))
    x = np.arange(len(categories))
    fig, ax = plt.subplots(figsize=(PAGE_WIDTH, 3.8))
    scale = 100.0 if percent else 1.0
    top = 0.0
    for k, name in enumerate(names):
        vals = np.asarray(series[name], dtype=float) * scale
        err = np.asarray(errors[name], dtype=float) * scale if errors and name in errors else None
        bars = ax.bar(x + (k - (len(names) - 1) / 2) * width, vals, width, yerr=err, capsize=2, label=name)
        ax.bar_label(bars, labels=["" if not np.isfinite(v) else f"{v:.1f}" if percent else f"{v:.3g}" for v in vals],
                     fontsize=7, padding=2)
        top = max(top, float(np.nanmax(vals + (err if err is not None else 0), initial=0.0)))
    levels = _chance_levels(chance, len(categories))
    for i, level in enumerate(levels):
        if level is not None:
            line = ax.hlines(level * scale, i - 0.45, i + 0.45, colors="0.25", linestyles="--", linewidth=1.2,
                             label=chance_label if i == next(j for j, v in enumerate(levels) if v is not None) else None)
            line.set_gid("chance")
            top = max(top, level * scale)
    ax.set_xticks(x, list(categories))
    ax.set_ylabel(ylabel + (" (%)" if percent and ylabel else ""))
    ax.set_ylim(0, min(105.0, top * 1.18) if percent and top > 0 else (top * 1.18 or 1.0))
    ax.set_title(title)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=8, ncol=min(5, len(names) + 1), loc="upper center", bbox_to_anchor=(0.5, -0.12))
    return _png(fig)


def _chance_levels(chance, n: int) -> list[float | None]:
    if chance is None:
        return [None] * n
    if isinstance(chance, (int, float)):
        return [float(chance)] * n
    return [None if c is None else float(c) for c in chance]


def kde(values: np.ndarray, grid: np.ndarray, reflect_at_zero: bool = False) -> np.ndarray:
    """Gaussian kernel density (Silverman bandwidth); numpy only, to avoid a scipy dependency.
    `reflect_at_zero` mirrors the kernels at 0 for values that cannot be negative (|gaps|), so
    the curve is not pulled down at 0 by mass that the kernels spill below it."""
    values = np.asarray(values, dtype=float)
    values = values[np.isfinite(values)]
    if values.size == 0:
        return np.zeros_like(grid)
    std = values.std()
    bw = 1.06 * std * values.size ** (-1 / 5) if std > 0 else 1e-3
    bw = max(bw, 1e-6)
    z = (grid[:, None] - values[None, :]) / bw
    dens = np.exp(-0.5 * z**2).sum(axis=1)
    if reflect_at_zero:
        dens = dens + np.exp(-0.5 * ((grid[:, None] + values[None, :]) / bw) ** 2).sum(axis=1)
    return dens / (values.size * bw * np.sqrt(2 * np.pi))


#: runs whose scales (99th percentiles) differ by more than this get one panel each (own x axis)
SCALE_RATIO = 10.0


def _upper(vals: np.ndarray) -> float:
    finite = np.asarray(vals, dtype=float)[np.isfinite(vals)]
    return float(np.quantile(finite, 0.99)) if finite.size else 0.0


def separate_scales(samples: Mapping[str, np.ndarray]) -> bool:
    """Whether one shared linear axis would squash a run into a spike (scales differ > SCALE_RATIO x)."""
    tops = [t for t in (_upper(v) for v in samples.values()) if t > 0]
    return len(tops) > 1 and max(tops) / min(tops) > SCALE_RATIO


def distribution_plot(
    samples: Mapping[str, np.ndarray],
    *,
    xlabel: str = "",
    title: str = "",
    labels: Mapping[str, str] | None = None,
) -> bytes:
    """Density curves, one per run (EqSim figure 6 style: tighter near 0 = more equivariant). When the
    runs' scales differ by more than SCALE_RATIO x, each run gets its own panel and x axis (on a shared
    axis the small one is a spike at 0 and the large one a flat line)."""
    plt = _plt()
    groups = [[n] for n in samples] if separate_scales(samples) else [list(samples)]
    fig, axes = plt.subplots(1, len(groups), figsize=(PAGE_WIDTH, 3.6), squeeze=False)
    for ax, names in zip(axes[0], groups):
        hi = max((_upper(samples[n]) for n in names), default=1.0) or 1.0
        grid = np.linspace(0.0, hi * 1.1, 300)
        for name in names:
            vals = np.asarray(samples[name], dtype=float)
            ax.plot(grid, kde(vals, grid, reflect_at_zero=bool(np.all(vals[np.isfinite(vals)] >= 0))),
                    label=(labels or {}).get(name, name))
        ax.set_xlabel(xlabel if len(groups) == 1 else "|Δs|")
        ax.set_ylabel("density")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
        ax.ticklabel_format(axis="x", style="sci", scilimits=(-3, 3))
    fig.suptitle(title + (" (one panel per run: scales differ > 10x)" if len(groups) > 1 else ""), fontsize=11)
    fig.tight_layout()
    return _png(fig)


def curves_panels(
    panels: Mapping[str, Mapping[str, tuple[Sequence[float], Sequence[float]]]],
    *,
    xlabel: str = "step",
    ylabel: str = "",
) -> bytes:
    """Side-by-side line plots, each with its own step axis (pre-training next to fine-tuning)."""
    plt = _plt()
    fig, axes = plt.subplots(1, len(panels), figsize=(PAGE_WIDTH, 3.6), squeeze=False)
    for ax, (title, curves) in zip(axes[0], panels.items()):
        for name, (xs, ys) in curves.items():
            ax.plot(list(xs), list(ys), label=name, linewidth=1.2)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_title(title, fontsize=10)
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    return _png(fig)
