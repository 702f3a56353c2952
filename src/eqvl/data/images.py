"""Robust image loading: `decode_rgb` turns image bytes into the RGB picture that train and eval see.

Handles every format Pillow reads, EqBen's `.npy` frames (H x W x 3 uint8, BGR) and
ARO's bounding-box crops. Failures raise `DataError` naming the path so the engine
can name the record (or skip it with `--skip-bad`).

Decoding rules (each tested against an independent numpy decode in tests/test_faults.py):
- EXIF orientation is applied (`ImageOps.exif_transpose`): the picture as a viewer shows it.
- 16-bit grey (Pillow modes I;16, I;16B, I;16L; and I holding 0..65535, how some 16-bit files open)
  keeps its high byte (v >> 8, as libpng's strip-16 and torchvision's integer down-scaling do);
  Pillow's own RGB conversion clips such images to white. `I` values outside 0..65535 and float
  (`F`) images are refused with the file named, since their range is not defined.
- Alpha (RGBA, LA, PA, palette transparency) is dropped, keeping the stored colour channels: this is
  `PIL convert("RGB")`, what open_clip's `_convert_to_rgb` and torchvision's RGB decode give, so a
  model sees the same pixels here as in open_clip training. No background compositing.
- CMYK uses Pillow's conversion, R = (255 - C)(255 - K) / 255 rounded; embedded ICC profiles are
  not applied (neither do open_clip nor torchvision).
- An image over Pillow's pixel limit (`PIL.Image.MAX_IMAGE_PIXELS`, a decompression-bomb guard) is a
  `DataError` naming the file.
"""

from __future__ import annotations

import hashlib
import io
import warnings
from pathlib import Path
from typing import BinaryIO

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

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
    if path.suffix.lower() == ".npy":
        try:
            image = _from_npy(source, path)
        except (OSError, ValueError) as exc:
            raise DataError(f"unreadable image: {exc}", path=str(path)) from None
    else:
        image = decode_rgb(source, str(path))
    if ref.bbox is not None:
        image = crop_bbox(image, ref.bbox, str(path))
    return image


def decode_rgb(source: str | Path | BinaryIO, name: str | None = None) -> Image.Image:
    """Decode an image file (path or file object) into RGB by the module's rules; DataError names
    `name` (default: the path) on any failure, a decompression bomb included."""
    where = name if name is not None else str(source)
    try:
        with Image.open(source) as handle:
            handle.load()
            return to_rgb(handle, where)
    except DataError:
        raise
    except Image.DecompressionBombError as exc:
        raise DataError(f"image too large to decode ({exc}); raise PIL.Image.MAX_IMAGE_PIXELS if you trust it",
                        path=where) from None
    except FileNotFoundError:
        raise DataError("image file not found", path=where) from None
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError, EOFError) as exc:
        raise DataError(f"unreadable image: {exc}", path=where) from None


_SIXTEEN_BIT = {"I;16", "I;16B", "I;16L", "I;16N", "I"}


def to_rgb(image: Image.Image, where: str = "") -> Image.Image:
    """A new RGB image from a loaded PIL image: EXIF orientation applied, 16-bit grey scaled, alpha dropped."""
    if image.getexif().get(ImageOps.ExifTags.Base.Orientation, 1) != 1:
        image = ImageOps.exif_transpose(image)
    if image.mode in _SIXTEEN_BIT:
        grey = np.asarray(image)
        if image.mode == "I" and grey.size and (grey.min() < 0 or grey.max() > 65535):
            raise DataError(f"32-bit integer image with values {grey.min()}..{grey.max()} (only 0..65535 is defined)",
                            path=where or None)
        grey = (grey.astype(np.uint32) >> 8).astype(np.uint8)
        return Image.fromarray(np.repeat(grey[:, :, None], 3, axis=2), mode="RGB")
    if image.mode == "F":
        raise DataError("floating-point image (mode F) has no defined 0..255 range; convert it to 8 or 16 bits",
                        path=where or None)
    with warnings.catch_warnings():  # Pillow suggests RGBA for palette transparency; we drop alpha on purpose
        warnings.simplefilter("ignore", UserWarning)
        return image.convert("RGB") if image.mode != "RGB" else image.copy()


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
