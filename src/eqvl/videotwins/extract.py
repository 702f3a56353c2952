"""Per-video work of a build, run in worker processes: extract the plan's frames, write them,
hash them, detect faces, and leave a done marker so a killed build resumes without redoing it.

The marker (`.build/done/<video>.json`) holds everything later steps need (image path, dHash,
face count, or the error per frame); it is written atomically after the images, so a marker
always describes complete files.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from eqvl.videotwins.filters import count_faces, dhash
from eqvl.videotwins.plan import VideoPlan, safe_name
from eqvl.video.reader import VideoReader
from eqvl.errors import DataError
from eqvl.io import atomic_open

DONE_DIR = ".build/done"


@dataclass
class ExtractJob:
    out: str
    plan: VideoPlan
    image_format: str = "jpg"
    faces: bool = False
    decoder_threads: int = 0  # FFmpeg threads for this video (0: FFmpeg's choice); see pipeline.decoder_threads


def marker_path(out: str | Path, video: str) -> Path:
    return Path(out) / DONE_DIR / f"{safe_name(video)}.json"


def read_marker(out: str | Path, video: str) -> dict[str, Any] | None:
    path = marker_path(out, video)
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (json.JSONDecodeError, UnicodeDecodeError):
        return None  # a damaged marker means: redo the video


def _save(image: Image.Image, path: Path, fmt: str) -> None:
    with atomic_open(path, "wb") as handle:
        if fmt == "png":
            image.save(handle, format="PNG", compress_level=6)
        else:
            image.save(handle, format="JPEG", quality=95, subsampling=0)


def _load_frames(plan: VideoPlan, errors: dict[str, str], threads: int = 0) -> dict[str, Image.Image]:
    specs = sorted(plan.frames.values(), key=lambda s: (s.index if s.index is not None else -1, s.time or 0.0, s.name))
    if plan.source is None:
        raise DataError(f"video {plan.video!r}: no --videos or --frames folder given")
    if plan.source_kind == "frames":
        out = {}
        for spec in specs:
            path = Path(plan.source) / f"{spec.name}.png"  # pre-extracted frames keep their annotation names
            try:
                with Image.open(path) as handle:
                    out[spec.name] = handle.convert("RGB")
            except FileNotFoundError:
                errors[spec.name] = f"{path}: frame file not found"
            except OSError as exc:
                errors[spec.name] = f"{path}: unreadable frame: {exc}"
        return out
    with VideoReader(plan.source, threads=threads) as reader:
        good = []
        for spec in specs:
            t = spec.time if spec.time is not None else (spec.index + 0.25) / (reader.fps or 1.0)
            try:
                reader.check_time(t, "timestamp" if spec.time is not None else f"frame {spec.name} at")
                good.append(spec)
            except DataError as exc:
                errors[spec.name] = str(exc)
        if not good:
            return {}
        by_index = [s for s in good if s.time is None]
        by_time = [s for s in good if s.time is not None]
        images = dict(zip([s.name for s in by_index], reader.frames_by_index([s.index for s in by_index])))
        images.update(zip([s.name for s in by_time], reader.frames_at([s.time for s in by_time])))
        return images


def extract_video(job: ExtractJob) -> dict[str, Any]:
    """Do one video and write its marker; a video that cannot be opened returns {"error": ...}, no marker."""
    plan, out = job.plan, Path(job.out)
    errors: dict[str, str] = {}
    try:
        images = _load_frames(plan, errors, job.decoder_threads)
    except DataError as exc:
        return {"video": plan.video, "error": str(exc)}
    folder = Path("images") / safe_name(plan.video)
    frames: dict[str, Any] = {}
    for name in sorted(plan.frames):
        if name in errors:
            frames[name] = {"error": errors[name]}
            continue
        image = images[name]
        rel = (folder / f"{safe_name(name)}.{job.image_format}").as_posix()
        _save(image, out / rel, job.image_format)
        frames[name] = {"path": rel, "dhash": f"{dhash(image):016x}", "size": list(image.size)}
        if job.faces:
            frames[name]["faces"] = count_faces(image)
    marker = {"video": plan.video, "frames": frames}
    path = marker_path(out, plan.video)
    with atomic_open(path, "w", encoding="utf-8") as handle:
        json.dump(marker, handle, sort_keys=True)
    return marker
