"""eqvl build captions: your own videos with timed captions (jsonl / csv / srt / vtt) -> twins by YouCook2's rule."""

import json

import numpy as np
import pytest
from PIL import Image

from eqvl.cli import main
from eqvl.errors import DataError
from eqvl.video.synthetic import segment_video
from eqvl.videotwins.captions import read_timed_captions
from test_build_fixtures import COLOURS

CAPS = ["a red room", "a green room", "a blue room", "a yellow room"]

SRT = """1
00:00:00,000 --> 00:00:02,000
a red room

2
00:00:02,000 --> 00:00:04,000
a <i>green</i> room

3
00:00:04,000 --> 00:00:06,000
a blue room

4
00:00:06,000 --> 00:00:08,000
a yellow room
"""
VTT = "WEBVTT\n\n" + "\n".join(f"{k}\n00:{2 * k:02d}.000 --> 00:{2 * k + 2:02d}.000 line:0\n{c}\n" for k, c in enumerate(CAPS))


def _inputs(tmp_path):
    videos = tmp_path / "videos"
    segment_video(videos / "holiday" / "clip01.mp4", COLOURS[:4], 2.0, fps=10)
    ann = tmp_path / "ann"
    ann.mkdir()
    (ann / "caps.jsonl").write_text("".join(json.dumps({"video": "clip01", "start": 2.0 * k, "end": 2.0 * k + 2, "caption": c}) + "\n"
                                            for k, c in enumerate(CAPS)))
    (ann / "caps.csv").write_text("video,start,end,caption\n" + "".join(f"clip01,{2 * k},{2 * k + 2},{c}\n" for k, c in enumerate(CAPS)))
    (ann / "clip01.srt").write_text(SRT)
    (ann / "vtt").mkdir()
    (ann / "vtt" / "clip01.vtt").write_text(VTT)
    return videos, ann


@pytest.mark.parametrize("name", ["caps.jsonl", "caps.csv", "clip01.srt", "vtt"])
def test_every_format_gives_the_same_twins(tmp_path, name):
    videos, ann = _inputs(tmp_path)
    out = tmp_path / "out"
    assert main(["build", "captions", "--videos", str(videos), "--annotations", str(ann / name), "--output", str(out),
                 "--image-format", "png", "--no-progress"]) == 0
    rows = [json.loads(x) for x in (out / "twins.jsonl").read_text().splitlines()]
    assert len(rows) == 6 and {(r["caption_0"], r["caption_1"]) for r in rows} == {(CAPS[a], CAPS[b]) for a in range(4) for b in range(a + 1, 4)}
    for r in rows:  # middle frame of each span shows that span's colour
        for k in (0, 1):
            seg = CAPS.index(r[f"caption_{k}"])
            assert r[f"time_{k}"] == 2.0 * seg + 1
            pixel = np.asarray(Image.open(out / r[f"image_{k}"]))[-1, -1].astype(int)
            assert np.abs(pixel - np.array(COLOURS[seg])).max() <= 6
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["dataset"] == "captions" and manifest["counts"]["candidates"] == 6


def test_bad_spans_name_file_and_line(tmp_path):
    path = tmp_path / "caps.csv"
    path.write_text("video,start,end,caption\nclip01,0,2,a\nclip01,5,3,b\n")
    with pytest.raises(DataError, match=r"caps.csv:3: expected 0 <= start <= end, got 5.0..3.0"):
        read_timed_captions(path)
    path.write_text("video,begin,caption\n")
    with pytest.raises(DataError, match="expected a header row video,start,end,caption"):
        read_timed_captions(path)
    (tmp_path / "x.srt").write_text("no cues here\n")
    with pytest.raises(DataError, match="no cues found"):
        read_timed_captions(tmp_path / "x.srt")


def test_webdataset_shards_beside_the_folder(tmp_path):
    import tarfile

    videos, ann = _inputs(tmp_path)
    args = ["build", "captions", "--videos", str(videos), "--annotations", str(ann / "caps.jsonl"), "--no-progress",
            "--format", "webdataset", "--shard-size", "4"]
    assert main(args + ["--output", str(tmp_path / "a")]) == 0
    assert main(args + ["--output", str(tmp_path / "b")]) == 0
    out = tmp_path / "a"
    rows = [json.loads(x) for x in (out / "twins.jsonl").read_text().splitlines()]
    shards = json.loads((out / "manifest.json").read_text())["files"]["webdataset"]
    assert shards == ["webdataset/twins-000000.tar", "webdataset/twins-000001.tar"]  # 6 twins, 4 per shard
    assert all((out / s).read_bytes() == (tmp_path / "b" / s).read_bytes() for s in shards)  # deterministic
    samples = {}
    for s in shards:
        with tarfile.open(out / s) as tar:
            for m in tar.getmembers():
                key, ext = m.name.split(".", 1)  # WebDataset's rule: the key ends at the first dot
                samples.setdefault(key, {})[ext] = tar.extractfile(m).read()
    assert len(samples) == 6
    for row, (key, files) in zip(rows, samples.items()):
        assert set(files) == {"0.jpg", "1.jpg", "0.txt", "1.txt", "json"}
        assert json.loads(files["json"]) == row and files["0.txt"].decode() == row["caption_0"]
        assert files["1.jpg"] == (out / row["image_1"]).read_bytes()


def test_scene_change_filter_drops_twins_across_a_cut(tmp_path):
    pytest.importorskip("scenedetect")
    from eqvl.video.synthetic import colour_frame, write_video

    size = (64, 48)  # one shot red for 4 s, a hard cut, one shot blue for 4 s (a square moves in both)
    write_video(tmp_path / "videos" / "clip01.mp4", 80, 10, size, lambda k: colour_frame(COLOURS[0] if k < 40 else COLOURS[2], k, size))
    ann = tmp_path / "caps.jsonl"
    ann.write_text("".join(json.dumps({"video": "clip01", "start": 2.0 * k, "end": 2.0 * k + 2, "caption": c}) + "\n"
                           for k, c in enumerate(CAPS)))
    args = ["build", "captions", "--videos", str(tmp_path / "videos"), "--annotations", str(ann), "--no-progress"]
    assert main(args + ["--output", str(tmp_path / "plain")]) == 0
    assert len((tmp_path / "plain" / "twins.jsonl").read_text().splitlines()) == 6
    assert main(args + ["--output", str(tmp_path / "out"), "--scene-filter"]) == 0
    rows = [json.loads(x) for x in (tmp_path / "out" / "twins.jsonl").read_text().splitlines()]
    assert [(r["caption_0"], r["caption_1"]) for r in rows] == [(CAPS[0], CAPS[1]), (CAPS[2], CAPS[3])]  # within a shot
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["counts"]["dropped"] == {"scene_change": 4} and manifest["filters"]["scene_change"].startswith("PySceneDetect")
    assert json.loads((tmp_path / "out" / ".build" / "done" / "clip01.json").read_text())["scene_cuts"] == [4.0]
