"""Robust image loading for evaluation: one function from an `ImageRef` to an RGB PIL image.

Handles every format Pillow reads, EqBen's `.npy` frames (H x W x 3 uint8, BGR) and
ARO's bounding-box crops. Failures raise `DataError` naming the path so the engine
can name the record (or skip it with `--skip-bad`).
"""

from __future__ import annotations

import hashlib
import io
from pathlib import Path

import numpy as np
from PIL import Image, UnidentifiedImageError

from eqvl.data.records import ImageRef
from eqvl.errors import DataError

_HASH_CHUNK = 1 << 20


def load_image(ref: ImageRef) -> Image.Image:
    """Decode `ref` into an RGB image, cropped to its bbox; DataError on any failure."""
    return _decode(ref, Path(ref.path))


def load_image_keyed(ref: ImageRef) -> tuple[Image.Image, str]:
    """Decode `ref` and return its cache key too, reading the file only once (cold-cache runs)."""
    data = _read(Path(ref.path))
    key = hashlib.blake2b(data, digest_size=16).hexdigest() + _bbox_suffix(ref)
    return _decode(ref, io.BytesIO(data)), key


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise DataError("image file not found", path=str(path)) from None
    except OSError as exc:
        raise DataError(f"cannot read image file: {exc.strerror or exc}", path=str(path)) from None


def _decode(ref: ImageRef, source: Path | io.BytesIO) -> Image.Image:
    path = Path(ref.path)
    if isinstance(source, Path) and not path.is_file():
        raise DataError("image file not found", path=str(path))
    try:
        if path.suffix.lower() == ".npy":
            image = _from_npy(source, path)
        else:
            with Image.open(source) as handle:
                handle.load()
                image = handle.convert("RGB")
    except DataError:
        raise
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError) as exc:
        raise DataError(f"unreadable image: {exc}", path=str(path)) from None
    if ref.bbox is not None:
        image = crop_bbox(image, ref.bbox, str(path))
    return image


def _from_npy(source: Path | io.BytesIO, path: Path) -> Image.Image:
    """EqBen YouCook2 frames: H x W x 3 uint8 arrays in BGR order (OpenCV's); flip to RGB."""
    array = np.load(source, allow_pickle=False)
    if array.ndim != 3 or array.shape[2] != 3:
        raise DataError(f"expected an H x W x 3 array, got shape {array.shape}", path=str(path))
    if array.dtype != np.uint8:
        raise DataError(f"expected uint8 pixels, got {array.dtype}", path=str(path))
    return Image.fromarray(np.ascontiguousarray(array[:, :, ::-1]), mode="RGB")


def crop_bbox(image: Image.Image, bbox: tuple[float, float, float, float], where: str = "") -> Image.Image:
    """Crop (x, y, w, h) exactly as ARO's official code does: PIL `Image.crop((x, y, x + w, y + h))`.

    PIL rounds the corners to whole pixels and pads whatever lies outside the image with
    black, so a box running past the edge keeps its size (and its item its official score);
    only a box with no area is an error, not a 0-pixel image.
    """
    x, y, w, h = (float(v) for v in bbox)
    left, top, right, bottom = (int(round(v)) for v in (x, y, x + w, y + h))
    if right <= left or bottom <= top:
        raise DataError(f"bbox {tuple(bbox)} is empty (no area)", path=where or None)
    return image.crop((left, top, right, bottom))


def file_digest(path: str | Path) -> str:
    """Content hash of a file's bytes (keys the embedding cache, so a changed file is re-encoded)."""
    digest = hashlib.blake2b(digest_size=16)
    try:
        with open(path, "rb") as handle:
            while chunk := handle.read(_HASH_CHUNK):
                digest.update(chunk)
    except FileNotFoundError:
        raise DataError("image file not found", path=str(path)) from None
    except OSError as exc:
        raise DataError(f"cannot read image file: {exc.strerror or exc}", path=str(path)) from None
    return digest.hexdigest()


def image_content_key(ref: ImageRef) -> str:
    """Cache key of an image: its bytes' hash plus the crop box."""
    return file_digest(ref.path) + _bbox_suffix(ref)


def _bbox_suffix(ref: ImageRef) -> str:
    return "" if ref.bbox is None else "#crop=" + ",".join(f"{float(v):g}" for v in ref.bbox)


def text_content_key(text: str) -> str:
    """Cache key of a caption: hash of its exact text."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()
