"""Per-video work of a build, run in worker processes: extract the plan's frames, write them,
hash them, detect faces, and leave a done marker so a killed build resumes without redoing it.

The marker (`.build/done/<video>.json`) holds everything later steps need (image path, dHash,
face count, or the error per frame); it is written atomically after the images, so a marker
always describes complete files. It also records what the frames were made FROM: the source's
fingerprint (size + BLAKE2 of its first and last 64 KiB; size + mtime per frame file for a frames
folder) and each frame's time or number. `--resume` reuses a marker only when both still match,
so an edited annotation (a moved segment) or a replaced video is extracted again.
"""

from __future__ import annotations

import hashlib
import json
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from PIL import Image

from eqvl.videotwins.filters import count_faces, dhash
from eqvl.videotwins.plan import FrameSpec, VideoPlan, safe_name
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
    scenes: bool = False  # also find the video's shot changes (PySceneDetect) for the scene-change filter


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


def _fingerprint_file(path: Path, chunk: int = 1 << 16) -> str:
    size = path.stat().st_size
    digest = hashlib.blake2b(str(size).encode(), digest_size=16)
    with open(path, "rb") as handle:
        digest.update(handle.read(chunk))
        if size > chunk:
            handle.seek(max(chunk, size - chunk))
            digest.update(handle.read(chunk))
    return f"{size}:{digest.hexdigest()}"


def source_fingerprint(plan: VideoPlan) -> str | None:
    """What the video's frames are made from, as a string; None when the source is missing."""
    if plan.source is None:
        return None
    try:
        if plan.source_kind == "frames":
            parts = []
            for name in sorted(plan.frames):
                st = (Path(plan.source) / f"{name}.png").stat()
                parts.append(f"{name}:{st.st_size}:{st.st_mtime_ns}")
            return hashlib.blake2b("|".join(parts).encode(), digest_size=16).hexdigest()
        return _fingerprint_file(Path(plan.source))
    except OSError:
        return None


def frame_key(spec: FrameSpec) -> dict[str, Any]:
    return {"index": spec.index} if spec.time is None else {"time": spec.time}


def marker_matches(marker: dict[str, Any] | None, plan: VideoPlan, out: str | Path | None = None) -> bool:
    """Whether a done marker was made from exactly this video content and these frame times
    (and, given the build folder `out`, its images are still there)."""
    if not marker or "error" in marker or marker.get("source") is None:
        return False
    frames = marker.get("frames", {})
    if set(frames) != set(plan.frames):
        return False
    if any(frames[n].get("key") != frame_key(spec) for n, spec in plan.frames.items()):
        return False
    if out is not None and any("path" in f and not (Path(out) / f["path"]).is_file() for f in frames.values()):
        return False
    return marker["source"] == source_fingerprint(plan)


def _save(image: Image.Image, path: Path, fmt: str) -> None:
    with atomic_open(path, "wb") as handle:
        if fmt == "png":
            image.save(handle, format="PNG", compress_level=6)
        else:
            image.save(handle, format="JPEG", quality=95, subsampling=0)


def _load_frames(plan: VideoPlan, errors: dict[str, str], threads: int = 0) -> dict[str, Image.Image]:
    specs = sorted(plan.frames.values(), key=lambda s: (s.index if s.index is not None else -1, s.time or 0.0, s.name))
    if plan.source is None:
        raise DataError(f"video {plan.video!r}: no `videos` or `frames` folder given", params=("videos", "frames"))
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
    images = {}
    with VideoReader(plan.source, threads=threads) as reader:
        # one frame at a time in time order: the reader decodes on between close times, and a frame the
        # file cannot give (past its end, or past what a truncated file decodes) fails alone
        fps = reader.fps or 1.0
        for spec in sorted(specs, key=lambda s: s.time if s.time is not None else ((s.index or 0) + 0.25) / fps):
            try:
                if spec.time is not None:
                    reader.check_time(spec.time, "timestamp")
                    images[spec.name] = reader.frames_at([spec.time])[0]
                elif spec.index is not None:
                    images[spec.name] = reader.frames_by_index([spec.index])[0]
                else:
                    errors[spec.name] = "frame has neither a frame number nor a time"
            except DataError as exc:
                errors[spec.name] = str(exc)
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
    if (out / folder).is_dir():  # frames of an earlier, different plan of this video (resume after an edit)
        shutil.rmtree(out / folder)
    frames: dict[str, Any] = {}
    for name in sorted(plan.frames):
        key = frame_key(plan.frames[name])
        if name in errors:
            frames[name] = {"error": errors[name], "key": key}
            continue
        image = images[name]
        rel = (folder / f"{safe_name(name)}.{job.image_format}").as_posix()
        _save(image, out / rel, job.image_format)
        frames[name] = {"path": rel, "dhash": f"{dhash(image):016x}", "size": list(image.size), "key": key}
        if job.faces:
            frames[name]["faces"] = count_faces(image)
    marker: dict[str, Any] = {"video": plan.video, "source": source_fingerprint(plan), "frames": frames}
    if job.scenes and plan.source_kind == "video" and plan.source is not None:
        from eqvl.videotwins.scenes import scene_cuts

        try:
            marker["scene_cuts"] = scene_cuts(plan.source)
        except DataError as exc:
            return {"video": plan.video, "error": str(exc)}
    path = marker_path(out, plan.video)
    with atomic_open(path, "w", encoding="utf-8") as handle:
        json.dump(marker, handle, sort_keys=True)
    return marker
