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
from tests.helpers.videos import write_gebc


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


def _yc_build(ann, videos, out, *extra):
    return main(["build", "youcook2", "--annotations", str(ann), "--videos", str(videos), "--out", str(out),
                 "--no-progress", "--no-face-filter", "--image-format", "png", *extra])


def test_resume_redoes_videos_whose_annotation_or_file_changed(tmp_path):
    from tests.helpers.videos import write_youcook2

    ann, videos = write_youcook2(tmp_path)
    out = tmp_path / "out"
    assert _yc_build(ann, videos, out) == 0
    # an annotation edit: segment 1 moves to 5.5-6.5 s (middle 6.0 s: segment 3's colour) with a new caption
    db = json.loads(ann.read_text())
    db["database"]["ycA"]["annotations"][1].update(segment=[5.5, 6.5], sentence="serve the omelette")
    ann.write_text(json.dumps(db))
    assert _yc_build(ann, videos, out, "--resume") == 0
    assert _yc_build(ann, videos, tmp_path / "fresh") == 0
    row = next(json.loads(x) for x in (out / "twins.jsonl").read_text().splitlines() if x and json.loads(x)["segment_id_1"] == 1)
    assert row["caption_1"] == "serve the omelette" and row["time_1"] == 6.0
    assert (out / row["image_1"]).read_bytes() == (tmp_path / "fresh" / row["image_1"]).read_bytes()  # the new frame, not the old
    # the video file is replaced (another encoding of other pictures): its frames are extracted again
    video = next(videos.rglob("ycA.mp4"))
    segment_video(video, [(10, 10, 10), (250, 250, 250)], 4.0, fps=10, size=(128, 128))
    assert _yc_build(ann, videos, out, "--resume") == 0
    pixel = np.asarray(Image.open(out / row["image_0"]))[-1, 0].astype(int)
    assert np.abs(pixel - 10).max() <= 6  # frame at 1.0 s now comes from the new file
    (out / row["image_0"]).unlink()  # an image deleted by hand: its video is extracted again
    assert _yc_build(ann, videos, out, "--resume") == 0 and (out / row["image_0"]).is_file()


def test_resume_after_fixing_a_past_the_end_segment(tmp_path, capsys):
    from tests.helpers.videos import write_youcook2

    ann, videos = write_youcook2(tmp_path)
    db = json.loads(ann.read_text())
    db["database"]["ycA"]["annotations"][3]["segment"] = [9.0, 11.0]
    ann.write_text(json.dumps(db))
    out = tmp_path / "out"
    assert _yc_build(ann, videos, out) == 2
    assert "timestamp 10.000 s is outside the video" in capsys.readouterr().err
    db["database"]["ycA"]["annotations"][3]["segment"] = [6.0, 8.0]  # fixed
    ann.write_text(json.dumps(db))
    assert _yc_build(ann, videos, out, "--resume") == 0  # the old frame error is not reused
    assert json.loads((out / "manifest.json").read_text())["counts"]["kept"] == 6


def _truncated_mkv(tmp_path):
    """An 8 s mkv (YouCook2's layout) cut to 60% of its bytes, as a partial download: it decodes to ~4.5 s."""
    from tests.helpers.videos import write_youcook2

    ann, videos = write_youcook2(tmp_path)
    mp4 = next(videos.rglob("ycA.mp4"))
    mkv = mp4.with_suffix(".mkv")
    segment_video(mkv, [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30)], 2.0, fps=10, size=(128, 128))
    mp4.unlink()
    data = mkv.read_bytes()
    mkv.write_bytes(data[: int(len(data) * 0.6)])
    return ann, videos, mkv


def test_truncated_video_is_an_error_naming_time_and_decodable_length(tmp_path, capsys):
    ann, videos, mkv = _truncated_mkv(tmp_path)
    with VideoReader(mkv) as reader:
        assert reader.duration == pytest.approx(8.0)  # the header still claims the full length
        with pytest.raises(DataError, match=r"ycA.mkv: frame at 7.000 s requested but the video decodes only to [34]\.\d+ s"):
            reader.frames_at([1.0, 7.0])
    out = tmp_path / "out"
    assert _yc_build(ann, videos, out) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "ycA.mkv: frame at 5.000 s requested but the video decodes only to" in err
    assert _yc_build(ann, videos, out, "--overwrite", "--skip-bad") == 0
    manifest = json.loads((out / "manifest.json").read_text())
    # segments 2 (5.0 s) and 3 (7.0 s) lie past what decodes: the 5 pairs using them are dropped, (0, 1) stays
    assert manifest["counts"]["kept"] == 1 and manifest["counts"]["dropped"]["bad_frame"] == 5


def test_ground_on_a_truncated_video_is_one_line(tmp_path, capsys):
    _, _, mkv = _truncated_mkv(tmp_path)
    assert main(["ground", "--model", "eqvl-tiny-rn", "--pretrained", "none", "--video", str(mkv),
                 "--before", "a", "--after", "b"]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "ycA.mkv: frame at" in err and "decodes only to" in err
