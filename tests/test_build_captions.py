"""eqvl build captions: your own videos with timed captions (jsonl / csv / srt / vtt) -> twins by YouCook2's rule."""

import json

import numpy as np
import pytest
from PIL import Image

from eqvl.cli import main
from eqvl.errors import DataError
from eqvl.video.synthetic import segment_video
from eqvl.videotwins.captions import read_timed_captions
from tests.helpers.videos import COLOURS

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
    assert len(samples) == 12  # one sample per frame of each of the 6 twins
    for k, row in enumerate(rows):
        for side in (0, 1):
            files = samples[list(samples)[2 * k + side]]
            assert set(files) == {"jpg", "txt", "json"} and files["txt"].decode() == row[f"caption_{side}"]
            assert files["jpg"] == (out / row[f"image_{side}"]).read_bytes()
            meta = json.loads(files["json"])
            assert meta["hard_negatives"] == [row[f"caption_{1 - side}"]] and meta["row"] == row
    # eqvl train's shard reader takes them as they are: image, caption, the twin's other caption as hard negative
    from types import SimpleNamespace

    from eqvl.train.shards import read_shards

    cfg = SimpleNamespace(skip_bad=False, max_hard_negatives=4, max_hard_positives=4)
    train_rows, report, has = read_shards(str(out / "webdataset" / "twins-{000000..000001}.tar"), cfg)
    assert len(train_rows) == 12 and has["hard_negatives"] and report.used == 12
