"""Sprites: a category's template resampled to the size it appears at, cached.

Resampling gathers on running sums (an exact pixel-area average when shrinking, which is
the renderer's anti-aliasing) instead of matrix products, so no BLAS threads are woken
(they crawl when the CPU is shared). The cache is bounded in bytes.
"""

from __future__ import annotations

import functools
from collections import OrderedDict

import numpy as np

from eqvl.synth import shapes


def _resample(arr: np.ndarray, n_out: int, axis: int, span: float | None = None) -> np.ndarray:
    """Resize one axis: exact pixel-area average when shrinking, linear when enlarging.

    Gathers on a running sum instead of a matrix product, so no BLAS threads are woken
    (they crawl when the CPU is shared). `span`: how many input pixels the output covers
    (default all; a zero-padded pyramid level has a little more).
    """
    n_in = arr.shape[axis]
    scale = (n_in if span is None else span) / n_out
    a = np.moveaxis(arr, axis, 0)
    if scale >= 1:
        cs = np.concatenate([np.zeros((1,) + a.shape[1:], np.float32), np.cumsum(a, axis=0, dtype=np.float32)])
        edges = np.arange(n_out + 1, dtype=np.float64) * scale
        j = np.minimum(np.floor(edges).astype(int), n_in - 1)
        frac = (edges - j).astype(np.float32).reshape((-1,) + (1,) * (a.ndim - 1))
        integral = cs[j] + frac * a[j]
        out = (integral[1:] - integral[:-1]) / np.float32(scale)
    else:
        x = np.clip((np.arange(n_out) + 0.5) * scale - 0.5, 0, n_in - 1)
        j0 = np.floor(x).astype(int)
        j1 = np.minimum(j0 + 1, n_in - 1)
        t = (x - j0).astype(np.float32).reshape((-1,) + (1,) * (a.ndim - 1))
        out = a[j0] * (1 - t) + a[j1] * t
    return np.moveaxis(out, 0, axis)


#: a level-L pyramid template is used while each sprite pixel still averages at least this
#: many of its pixels per axis (so the area filter stays close to the exact one)
MIN_SOURCE_PIXELS = 2.0


@functools.lru_cache(maxsize=None)
def _rows_and_sums(category: str, yaw: int, pitch_i: int, level: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A template stack, 2**level times smaller (exact 2x2 area averages, zero-padded to even
    sizes), with rows first (th, 5, tw) and its running sum over rows (th+1, 5, tw)."""
    if level == 0:
        stack = shapes.template(category, yaw, pitch_i).stack
    else:
        prev = np.moveaxis(_rows_and_sums(category, yaw, pitch_i, level - 1)[0], 1, 0)  # (5, h, w)
        _, h, w = prev.shape
        padded = np.zeros((5, h + h % 2, w + w % 2), np.float32)
        padded[:, :h, :w] = prev
        stack = 0.25 * (padded[:, 0::2, 0::2] + padded[:, 1::2, 0::2] + padded[:, 0::2, 1::2] + padded[:, 1::2, 1::2])
    rows = np.ascontiguousarray(np.moveaxis(stack, 1, 0), dtype=np.float32)
    sums = np.concatenate([np.zeros((1,) + rows.shape[1:], np.float32), np.cumsum(rows, axis=0, dtype=np.float32)])
    return rows, sums


@functools.lru_cache(maxsize=None)
def _tables(category: str, yaw: int, pitch_i: int, level: int) -> tuple[np.ndarray, np.ndarray]:
    """Summed-area table (th+1, 5, tw+1) of a pyramid template and each row's running sum
    along x (th, 5, tw+1), in float64 (sums of up to ~25k pixels)."""
    rows, sums = _rows_and_sums(category, yaw, pitch_i, level)
    zero = np.zeros(rows.shape[:2] + (1,))
    across = np.concatenate([zero, np.cumsum(rows, axis=2, dtype=np.float64)], axis=2)
    sat = np.concatenate([np.zeros((1,) + across.shape[1:]), np.cumsum(across, axis=0)])
    return sat, across


def _area_average(tables: tuple[np.ndarray, np.ndarray], h: int, w: int, step_y: float, step_x: float) -> np.ndarray:
    """Exact pixel-area averages (5, h, w) of a piecewise-constant template: its integral is
    bilinear inside every template pixel, so interpolating the summed-area table at the
    sprite's pixel edges and differencing gives each sprite pixel's area integral."""
    sat, across = tables
    th, tw = across.shape[0], across.shape[2] - 1
    ey = np.arange(h + 1, dtype=np.float64) * step_y
    jy = np.minimum(ey.astype(np.intp), th - 1)
    at_rows = sat[jy] + (ey - jy)[:, None, None] * across[jy]  # (h+1, 5, tw+1): integral up to each edge row
    ex = np.arange(w + 1, dtype=np.float64) * step_x
    jx = np.minimum(ex.astype(np.intp), tw - 1)
    left = at_rows[:, :, jx]
    q = left + (ex - jx) * (at_rows[:, :, jx + 1] - left)  # (h+1, 5, w+1)
    d = q[1:] - q[:-1]
    out = (d[:, :, 1:] - d[:, :, :-1]) * (1.0 / (step_y * step_x))
    return np.ascontiguousarray(np.moveaxis(out, 1, 0), dtype=np.float32)  # (5, h, w)


def _level(th: int, tw: int, h: int, w: int) -> int:
    """The smallest pyramid template that still has MIN_SOURCE_PIXELS per sprite pixel."""
    ratio = min(th / h, tw / w) / MIN_SOURCE_PIXELS
    level = 0
    while ratio >= 2 and level < 4:
        ratio /= 2
        level += 1
    return level


#: resampled sprites, least recently used first; bounded in bytes (sizes vary with the image size)
_SPRITES: OrderedDict = OrderedDict()
_SPRITE_BYTES = [0]
SPRITE_CACHE_BYTES = 256 << 20


def sprite(category: str, yaw: int, pitch_i: int, w: int, h: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Template resampled to (h, w): alpha (h, w), unit normals (3, h, w), depth (h, w).

    An area filter when shrinking: the fraction of each pixel the solid covers is its alpha.
    Small sprites are averaged from a pre-shrunk pyramid level of the template (each
    sprite pixel still covers >= MIN_SOURCE_PIXELS of it per axis), which makes a cache
    miss cheap.
    """
    key = (category, yaw, pitch_i, w, h)
    hit = _SPRITES.get(key)
    if hit is not None:
        _SPRITES.move_to_end(key)
        return hit
    th0, tw0 = shapes.template_shape()
    level = _level(th0, tw0, h, w)
    step_y = th0 / (h * 2 ** level)  # level-L template rows per sprite row
    step_x = tw0 / (w * 2 ** level)
    if step_y >= 1 and step_x >= 1:
        out = _area_average(_tables(category, yaw, pitch_i, level), h, w, step_y, step_x)
    else:  # enlarging (very large sprites): the separable path
        rows, _ = _rows_and_sums(category, yaw, pitch_i, level)
        out = _resample(_resample(rows, h, 0), w, 2)
        out = np.moveaxis(out, 1, 0)  # (5, h, w)
    alpha = np.clip(out[0], 0, 1)
    normals = out[1:4] / np.maximum(np.sqrt((out[1:4] ** 2).sum(0, keepdims=True)), 1e-6)
    depth = out[4] / np.maximum(out[0], 1e-6)
    result = (np.ascontiguousarray(alpha), np.ascontiguousarray(normals, dtype=np.float32), np.ascontiguousarray(depth))
    _SPRITES[key] = result
    _SPRITE_BYTES[0] += sum(a.nbytes for a in result)
    while _SPRITE_BYTES[0] > SPRITE_CACHE_BYTES and len(_SPRITES) > 1:
        _, old = _SPRITES.popitem(last=False)
        _SPRITE_BYTES[0] -= sum(a.nbytes for a in old)
    return result


def warm_up(categories: tuple[str, ...]) -> None:
    """Build every template and its running sums now (before forking workers, so they share them)."""
    shapes.warm_up(categories)
    for cat in categories:
        for yi in range(len(shapes.YAWS) if cat in shapes.YAWED else 1):
            for pi in range(len(shapes.PITCHES)):
                for level in range(5):
                    _tables(cat, yi, pi, level)


def clear_cache() -> None:
    """Free the resampled sprites (a finished `generate` calls this; training may follow in-process)."""
    _SPRITES.clear()
    _SPRITE_BYTES[0] = 0
