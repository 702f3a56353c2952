"""Run a build: plan (from a dataset reader) -> frames per video (workers, resumable) -> filters
-> `twins.jsonl` + `manifest.json` (+ the EqBen export).

Output is byte-identical on re-runs: videos and twins keep the plan's order, markers and
manifest hold no clock times, and images are encoded deterministically by Pillow.
"""

from __future__ import annotations

import json
import os
import shutil
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from tqdm.auto import tqdm

from eqvl.videotwins.extract import ExtractJob, extract_video, marker_matches, read_marker
from eqvl.videotwins.plan import Plan
from eqvl.videotwins.select import ScreenConfig, select_twins
from eqvl.errors import EqvlError
from eqvl.processes import process_executor
from eqvl.io import write_json_atomic, write_jsonl_atomic

if TYPE_CHECKING:
    from eqvl.models.base import Encoder

OUR_ENTRIES = ("images", ".build", "twins.jsonl", "manifest.json", "eqben", "review", "webdataset")
CONFIG_FILE = ".build/config.json"


@dataclass
class BuildConfig:
    out: str
    workers: int = 1
    image_format: str = "jpg"
    faces: bool = False
    skip_bad: bool = False
    overwrite: bool = False
    resume: bool = False
    progress: bool = True
    export: tuple[str, ...] = ()
    #: "folder" (images/ + twins.jsonl) or "webdataset" (also tar shards of image + caption + metadata)
    format: str = "folder"
    #: drop twins whose two frames lie in different shots (PySceneDetect; time-addressed frames from videos)
    scenes: bool = False
    shard_size: int = 1000
    screen: ScreenConfig = field(default_factory=ScreenConfig)

    def validate(self) -> "BuildConfig":
        if self.workers < 0:
            raise EqvlError(f"`workers` must be >= 0 (0 = in this process), got {self.workers}", param="workers")
        if self.image_format not in ("jpg", "png"):
            raise EqvlError(f"`image_format` must be jpg or png, got {self.image_format!r}", params=("image_format",))
        if self.overwrite and self.resume:
            raise EqvlError("`overwrite` and `resume` exclude each other", params=("overwrite", "resume"))
        if self.format not in ("folder", "webdataset"):
            raise EqvlError(f"`format` must be folder or webdataset, got {self.format!r}", params=("format",))
        if self.shard_size < 1:
            raise EqvlError(f"`shard_size` must be >= 1, got {self.shard_size}", params=("shard_size",))
        for name in self.export:
            if name != "eqben":
                raise EqvlError(f"`export`: unknown format {name!r}; valid: eqben", params=("export",))
        self.screen.validate()
        return self


def prepare_out(cfg: BuildConfig, identity: dict[str, Any]) -> Path:
    """Refuse an existing folder unless --overwrite (remove our files) or --resume (same settings)."""
    out = Path(cfg.out)
    if out.exists() and not out.is_dir():
        raise EqvlError(f"{out} exists and is not a folder")
    busy = out.is_dir() and any(out.iterdir())
    if busy and cfg.resume:
        path = out / CONFIG_FILE
        if not path.is_file():
            raise EqvlError(f"{out} is not an eqvl build folder (no {CONFIG_FILE}); cannot `resume`", params=("resume",))
        before = json.loads(path.read_text(encoding="utf-8"))
        if before != identity:
            changed = sorted(k for k in set(before) | set(identity) if before.get(k) != identity.get(k))
            raise EqvlError(f"{out} was built with different settings ({', '.join(changed)}); use `overwrite` to start again", params=("overwrite",))
    elif busy and cfg.overwrite:
        for name in OUR_ENTRIES:
            target = out / name
            if target.is_dir():
                shutil.rmtree(target)
            elif target.exists():
                target.unlink()
    elif busy:
        raise EqvlError(f"{out} already exists; pass `overwrite` to replace it or `resume` to finish it", params=("overwrite", "resume"))
    out.mkdir(parents=True, exist_ok=True)
    write_json_atomic(out / CONFIG_FILE, identity)
    return out


def decoder_threads(workers: int) -> int:
    """FFmpeg decoding threads per video: the cores shared out among the worker processes, so
    that workers x threads <= cores (more only adds context switches; frame threading also
    decodes ahead, wasted when we seek to a few frames per video). 0 lets FFmpeg choose, which
    is right for the single in-process reader."""
    if workers <= 1:
        return 0
    return max(1, (os.cpu_count() or 1) // workers)


def extract_all(plan: Plan, cfg: BuildConfig) -> dict[str, dict[str, Any]]:
    """Markers of every video, extracting those without one (in `cfg.workers` processes)."""
    markers: dict[str, dict[str, Any]] = {}
    todo = []
    for vp in plan.videos:
        marker = read_marker(cfg.out, vp.video) if cfg.resume else None
        if marker_matches(marker, vp, cfg.out):  # same video content, same frame times: reuse
            markers[vp.video] = marker  # type: ignore[assignment]
        else:
            todo.append(ExtractJob(cfg.out, vp, cfg.image_format, cfg.faces, decoder_threads(cfg.workers), scenes=cfg.scenes))
    bar = tqdm(total=len(plan.videos), initial=len(markers), desc=f"build {plan.subset}", unit="video", disable=not cfg.progress)
    try:
        if cfg.workers <= 1 or len(todo) <= 1:
            results = map(extract_video, todo)
            for result in results:
                markers[result["video"]] = result
                bar.update(1)
        else:
            with process_executor(cfg.workers) as pool:  # spawned: no FFmpeg / torch thread state inherited
                for result in pool.map(extract_video, todo, chunksize=1):
                    markers[result["video"]] = result
                    bar.update(1)
    finally:
        bar.close()
    bad = sorted(v for v, m in markers.items() if "error" in m)
    if bad and not cfg.skip_bad:
        raise EqvlError(f"{markers[bad[0]]['error']} ({len(bad)} bad video(s); `skip_bad` skips them)", params=("skip_bad",))
    if not cfg.skip_bad:
        for video in sorted(markers):
            for name, info in sorted(markers[video].get("frames", {}).items()):
                if "error" in info:
                    raise EqvlError(f"{info['error']} (video {video!r}, frame {name}; `skip_bad` drops its pairs)", params=("skip_bad",))
    return markers


def run_build(plan: Plan, cfg: BuildConfig, encoder: Encoder | None = None) -> dict[str, Any]:
    """The whole build for one plan; returns the manifest (also written to `out/manifest.json`)."""
    cfg.validate()
    identity = {"subset": plan.subset, "settings": plan.settings, "image_format": cfg.image_format, "faces": cfg.faces,
                "scene_filter": cfg.scenes}
    out = prepare_out(cfg, json.loads(json.dumps(identity)))
    try:
        markers = extract_all(plan, cfg)
    except EqvlError as exc:  # the finished videos stay: say how to go on, since a plain re-run is refused
        raise EqvlError(f"{exc}; the partial build in {out} is kept: rerun with `resume` to finish it "
                        "(after fixing the input) or `overwrite` to start again", params=("resume", "overwrite")) from None
    rows, dropped = select_twins(plan, markers, cfg.screen, encoder, out, progress=cfg.progress)
    write_jsonl_atomic(out / "twins.jsonl", rows)
    # annotation-level drops of single frames ("frame_*", Action Genome) are counted apart from pairs
    frames_dropped = {k: v for k, v in sorted(plan.dropped.items()) if k.startswith("frame_")}
    all_dropped = Counter({k: v for k, v in plan.dropped.items() if not k.startswith("frame_")})
    all_dropped.update(dropped)
    bad_videos = sorted(v for v, m in markers.items() if "error" in m)
    manifest: dict[str, Any] = {
        "dataset": plan.subset,
        "counts": {
            "videos": len(plan.videos),
            "bad_videos": len(bad_videos),
            "candidates": plan.candidates,
            "kept": len(rows),
            "dropped": dict(sorted(all_dropped.items())),
            "annotations_dropped": frames_dropped,
        },
        "bad_videos": {v: markers[v]["error"] for v in bad_videos},
        "settings": plan.settings,
        "filters": {**cfg.screen.manifest(faces=cfg.faces), "scene_change": "PySceneDetect ContentDetector(threshold=27)" if cfg.scenes else None},
        "image_format": cfg.image_format,
        "files": {"twins": "twins.jsonl", "images": "images/"},
    }
    if "eqben" in cfg.export:
        from eqvl.videotwins.export import export_eqben

        manifest["files"]["eqben"] = export_eqben(out, rows, plan.subset)
    if cfg.format == "webdataset":
        from eqvl.videotwins.webdataset import write_shards

        manifest["files"]["webdataset"] = write_shards(out, rows, cfg.shard_size)
    write_json_atomic(out / "manifest.json", manifest)
    return manifest

