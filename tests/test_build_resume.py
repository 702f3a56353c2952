"""A killed build resumes without redoing finished videos and ends byte-identical; gallery; frame seeking."""

import json
import shutil

import numpy as np
import pytest
from PIL import Image

from eqvl.video.synthetic import segment_video
from eqvl.video.reader import VideoReader, frames_every_decode, sample_times
from eqvl.cli import main
from eqvl.errors import DataError
from test_build_fixtures import write_gebc


def _two_video_gebc(tmp_path):
    ann, videos = write_gebc(tmp_path)
    data = json.loads(ann.read_text())
    data["vidB"] = [dict(b, boundary_id=b["boundary_id"].replace("vidA", "vidB")) for b in data["vidA"]]
    ann.write_text(json.dumps(data))
    shutil.copyfile(next(videos.rglob("vidA*.mp4")), videos / "vidB.mp4")
    return ann, videos


def test_killed_build_resumes_without_redoing_finished_videos(tmp_path):
    ann, videos = _two_video_gebc(tmp_path)
    args = ["build", "gebc", "--annotations", str(ann), "--videos", str(videos), "--no-progress", "--workers", "2", "--dedup-bits", "-1"]  # vidB copies vidA
    assert main(args + ["--out", str(tmp_path / "fresh")]) == 0
    fresh = {p.relative_to(tmp_path / "fresh"): p.read_bytes() for p in (tmp_path / "fresh").rglob("*") if p.is_file()}
    assert main(args + ["--out", str(tmp_path / "b")]) == 0
    out = tmp_path / "b"
    # simulate a kill after vidA was finished: vidB's marker and images gone, no twins/manifest yet
    (out / ".build" / "done" / "vidB.json").unlink()
    shutil.rmtree(out / "images" / "vidB")
    (out / "twins.jsonl").unlink()
    (out / "manifest.json").unlink()
    done_a = out / "images" / "vidA" / "t00000750.jpg"
    done_a.write_bytes(done_a.read_bytes())  # same bytes, but we can see whether it is rewritten
    stamp = done_a.stat().st_mtime_ns
    assert main(args + ["--out", str(out), "--resume"]) == 0
    assert done_a.stat().st_mtime_ns == stamp  # vidA was not extracted again
    assert (out / "images" / "vidB" / "t00000750.jpg").is_file()
    again = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert again == fresh  # byte-identical to an uninterrupted build (any --workers)
    assert len([json.loads(x) for x in (out / "twins.jsonl").read_text().splitlines()]) == 4


def test_gallery_png(tmp_path, capsys):
    ann, videos = write_gebc(tmp_path)
    out = tmp_path / "out"
    assert main(["build", "gebc", "--annotations", str(ann), "--videos", str(videos), "--out", str(out), "--no-progress"]) == 0
    assert main(["build", "gallery", str(out), "--out", str(tmp_path / "g.png"), "--n", "2"]) == 0
    with Image.open(tmp_path / "g.png") as image:
        assert image.size[0] > 400 and image.size[1] > 400
    assert main(["build", "gallery", str(out), "--out", str(tmp_path / "g.png")]) == 2
    assert "already exists" in capsys.readouterr().err


def test_seek_matches_full_decode_at_many_times(tmp_path):
    video = segment_video(tmp_path / "v.mp4", [(200, 0, 0), (0, 200, 0), (0, 0, 200), (200, 200, 0)], 2.5, fps=12, size=(32, 24))
    times = [0.0, 0.04, 9.9, 5.0, 5.01, 4.99, 2.5, 7.3, 0.5, 1.0, 9.95]  # unsorted, close and far apart
    with VideoReader(video) as reader:
        seek = reader.frames_at(times)
        assert reader.duration == pytest.approx(10.0)
    full = frames_every_decode(video, times)
    assert all(np.array_equal(np.asarray(a), np.asarray(b)) for a, b in zip(seek, full))
    assert sample_times(1.0, 5) == [0.0, 0.2, 0.4, 0.6, 0.8]
    with VideoReader(video) as reader, pytest.raises(DataError, match="timestamp 10.500 s is outside the video"):
        reader.frames_at([10.5])
