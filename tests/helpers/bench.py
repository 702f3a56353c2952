"""Helpers for the benchmark-reader tests: tiny images and official-layout files in tmp_path."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image


def png(path: Path, color: tuple[int, int, int] = (255, 0, 0), size: tuple[int, int] = (4, 4)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", size, color).save(path)
    return path


def jpg(path: Path, color: tuple[int, int, int] = (0, 255, 0)) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (4, 4), color).save(path, format="JPEG")
    return path


def npy_bgr(path: Path, rgb: tuple[int, int, int] = (255, 0, 0)) -> Path:
    """A 4x4 frame saved the way EqBen's YouCook2 release stores them: BGR channel order."""
    path.parent.mkdir(parents=True, exist_ok=True)
    arr = np.zeros((4, 4, 3), dtype=np.uint8)
    arr[...] = rgb[::-1]
    np.save(path, arr)
    return path


def write_json(path: Path, obj: Any) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(obj, indent=1), encoding="utf-8")
    return path


def write_jsonl(path: Path, rows: list[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    return path


def twin_scores(s00: float, s01: float, s10: float, s11: float) -> np.ndarray:
    """A [caption, image] 2x2 score array."""
    return np.array([[s00, s01], [s10, s11]], dtype=float)


GOOD = twin_scores(0.9, 0.1, 0.2, 0.8)  # text, image, group all right
TEXT_ONLY = twin_scores(0.5, 0.55, 0.4, 0.6)  # text right, image wrong
TIE = twin_scores(0.3, 0.3, 0.3, 0.3)  # everything wrong
