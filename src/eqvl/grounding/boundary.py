"""Zero-shot video boundary grounding (EqBen appendix A.5, after GEB+).

Frames are sampled at `fps` (paper: 5); each is scored against the caption of the status before
and the caption of the status after the event. The boundary lies between the adjacent frames
(t, t+1) maximising s(I_t, T_before) + s(I_t+1, T_after); we report the midpoint of their times.
With ground truth, accuracy is the fraction of boundaries predicted within each time threshold
(table 11: 0.1 ... 3.0 s; strictly closer, as GEB+'s scorer) and their average. `eqvl ground`
streams the frames (decode, encode, score a batch at a time), so its memory does not grow with the
video's length.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Sequence

import numpy as np

from eqvl.videotwins.plan import safe_name
from eqvl.video.reader import VideoReader, sample_times
from eqvl.errors import DataError, EqvlError

if TYPE_CHECKING:
    from eqvl.models.base import Encoder

#: table 11's thresholds, in seconds
THRESHOLDS = (0.1, 0.2, 0.5, 1.0, 1.5, 2.0, 2.5, 3.0)


@dataclass
class Grounding:
    time: float  # predicted boundary (seconds)
    index: int  # the boundary lies between frames index and index + 1
    times: list[float]
    s_before: np.ndarray
    s_after: np.ndarray


def boundary_from_scores(s_before: Sequence[float], s_after: Sequence[float], times: Sequence[float]) -> tuple[float, int]:
    """argmax_t s_before[t] + s_after[t+1] (first on ties) -> (midpoint time, t)."""
    b, a = np.asarray(s_before, dtype=np.float64), np.asarray(s_after, dtype=np.float64)
    if len(b) != len(a) or len(b) != len(times):
        raise EqvlError(f"grounding: {len(b)} before-scores, {len(a)} after-scores and {len(times)} frame times differ")
    if len(b) < 2:
        raise EqvlError("grounding needs at least 2 frames; lower `fps` or use a longer video", params=("fps",))
    t = int(np.argmax(b[:-1] + a[1:]))
    return (float(times[t]) + float(times[t + 1])) / 2, t


def grounding_accuracy(pred: Sequence[float], truth: Sequence[float], thresholds: Sequence[float] = THRESHOLDS) -> dict[str, float]:
    """Fraction of |pred - truth| < threshold for each threshold, and their mean ("avg").

    Strictly less, as GEB+'s `compute_f1` (utils/evaluation_utils.py: `dist < th`): an error of
    exactly the threshold is a miss."""
    err = np.abs(np.asarray(pred, dtype=np.float64) - np.asarray(truth, dtype=np.float64))
    out = {f"accuracy@{th:g}s": float(np.mean(err < th)) if len(err) else float("nan") for th in thresholds}
    out["accuracy_avg"] = float(np.mean(list(out.values()))) if len(err) else float("nan")
    return out


def frames_folder(cache_root: str | Path, video: str | Path, fps: float) -> Path:
    """Where a video's frames at `fps` are kept: keyed by the file's path, size and mtime."""
    p = Path(video).resolve()
    st = p.stat()
    key = hashlib.blake2b(f"{p}|{st.st_size}|{st.st_mtime_ns}|{fps}".encode(), digest_size=8).hexdigest()
    return Path(cache_root) / f"{safe_name(p.stem)}-{key}"


def extract_sampled_frames(video: str | Path, fps: float, folder: str | Path) -> tuple[list[float], list[Path]]:
    """Frames at `fps` written once as PNGs under `folder` (reused when complete); returns times and paths."""
    folder = Path(folder)
    done = folder / "times.txt"
    if done.is_file():
        times = [float(x) for x in done.read_text().split()]
        paths = [folder / f"{k:06d}.png" for k in range(len(times))]
        if all(p.is_file() for p in paths):
            return times, paths
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    with VideoReader(video) as reader:  # one frame in memory at a time
        if not np.isfinite(reader.duration):
            raise DataError("video has no duration; cannot sample frames", path=str(video))
        times = sample_times(reader.duration, fps)
        for k, t in enumerate(times):
            path = folder / f"{k:06d}.png"
            reader.frames_at([t])[0].save(path, format="PNG", compress_level=1)
            paths.append(path)
    done.write_text("\n".join(f"{t:.6f}" for t in times) + "\n")
    return times, paths


def caption_scores(encoder: Encoder, paths: Sequence[Path], captions: Sequence[str], batch_size: int = 64,
                   progress: bool = False) -> np.ndarray:
    """[len(captions), len(paths)] scores through the shared encoding layer and the encoder's own score."""
    import torch

    from eqvl.data.records import ImageRef
    from eqvl.encode import EncodeConfig, encode_images, encode_texts

    cfg = EncodeConfig(batch_size=batch_size, progress=progress)
    images = encode_images(encoder, [ImageRef(str(p)) for p in paths], cfg)
    if images.bad:
        raise EqvlError(f"grounding: {next(iter(images.bad.values()))}")
    texts = encode_texts(encoder, list(captions), cfg)
    return encoder.score(torch.from_numpy(images.emb), torch.from_numpy(texts.emb)).detach().float().cpu().numpy()


def streamed_scores(encoder: Encoder, video: str | Path, captions: Sequence[str], fps: float = 5.0,
                    batch_size: int = 64) -> tuple[list[float], np.ndarray]:
    """Frame times at `fps` and their [len(captions), n_frames] scores, decoding, encoding and scoring
    one batch of frames at a time: memory stays flat in the video's length (only scores are kept)."""
    import torch

    from eqvl.encode import EncodeConfig, encode_texts
    from eqvl.encode.types import as_rows

    texts = torch.from_numpy(encode_texts(encoder, list(captions), EncodeConfig(batch_size=batch_size, progress=False)).emb)
    columns: list[np.ndarray] = []

    def flush(batch: list) -> None:
        with torch.inference_mode():
            emb = as_rows(encoder.encode_images(torch.stack(batch)), len(batch), "encode_images")
            columns.append(encoder.score(torch.from_numpy(emb), texts).detach().float().cpu().numpy())
        batch.clear()

    with VideoReader(video) as reader:
        if not np.isfinite(reader.duration):
            raise DataError("video has no duration; cannot sample frames", path=str(video))
        times = sample_times(reader.duration, fps)
        batch: list = []
        for t in times:
            batch.append(encoder.preprocess(reader.frames_at([t])[0]))
            if len(batch) == batch_size:
                flush(batch)
        if batch:
            flush(batch)
    scores = np.concatenate(columns, axis=1) if columns else np.zeros((len(captions), 0), dtype=np.float32)
    return times, scores


def ground_video(encoder: Encoder, video: str | Path, before: str, after: str, fps: float = 5.0,
                 batch_size: int = 64, progress: bool = False) -> Grounding:
    """Predict the boundary between the `before` and `after` statuses in `video` (frames streamed)."""
    if not before.strip() or not after.strip():
        raise EqvlError("`before` and `after` must be non-empty captions", params=("before", "after"))
    times, s = streamed_scores(encoder, video, [before, after], fps, batch_size)
    t, index = boundary_from_scores(s[0], s[1], times)
    return Grounding(time=t, index=index, times=times, s_before=s[0], s_after=s[1])
