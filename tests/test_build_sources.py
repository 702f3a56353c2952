"""eqvl build gebc / youcook2: official layouts -> twins; motion-word and face filters; EqBen export."""

import json

import numpy as np
import pytest
import skimage.data
from PIL import Image

from eqvl.benchmarks import get_benchmark
from eqvl.videotwins.filters import count_faces, dhash, hamming, motion_word_hits
from eqvl.videotwins.gebc import read_gebc
from eqvl.videotwins.youcook2 import read_youcook2
from eqvl.cli import main
from eqvl.errors import DataError
from tests.helpers.videos import COLOURS, write_ag, write_gebc, write_youcook2


def _rows(folder):
    return [json.loads(line) for line in (folder / "twins.jsonl").read_text().splitlines()]


def test_gebc_skip_one_boundary_and_motion_words(tmp_path):
    ann, videos = write_gebc(tmp_path)
    plan = read_gebc(ann, videos)
    cands = plan.videos[0].candidates
    # 5 boundaries -> segments 0..5; gap 2 pairs (0,2) (1,3) (2,4) (3,5); (1,3) and (3,5) say "climbs up"
    assert [(c.extra["segment_0"], c.extra["segment_1"]) for c in cands] == [(0, 2), (2, 4)]
    assert plan.candidates == 4 and plan.dropped["motion_word"] == 2
    assert cands[0].caption_0 == "A man in blue stands on a rope." and cands[0].caption_1 == "A man in blue hangs from a rope."
    assert [plan.videos[0].frames[c.frame_0].time for c in cands] == [0.75, 3.75]  # segment middles
    adjacent = read_gebc(ann, videos, gap=1, motion_words=())
    assert [(c.extra["segment_0"], c.extra["segment_1"]) for c in adjacent.videos[0].candidates] == [(k, k + 1) for k in range(5)]
    custom = read_gebc(ann, videos, motion_words=("hangs",))
    assert [(c.extra["segment_0"], c.extra["segment_1"]) for c in custom.videos[0].candidates] == [(1, 3), (3, 5)]


def test_gebc_cli_frames_at_segment_middles_and_eqben_export(tmp_path):
    ann, videos = write_gebc(tmp_path)
    out = tmp_path / "out"
    assert main(["build", "gebc", "--annotations", str(ann), "--videos", str(videos), "--out", str(out),
                 "--export", "eqben", "--image-format", "png", "--no-progress"]) == 0
    rows = _rows(out)
    assert [(r["time_0"], r["time_1"]) for r in rows] == [(0.75, 3.75), (3.75, 6.75)]
    for r in rows:  # segment k of the clip is COLOURS[k]
        for k, seg in ((0, r["segment_0"]), (1, r["segment_1"])):
            pixel = np.asarray(Image.open(out / r[f"image_{k}"]))[-1, -1].astype(int)
            assert np.abs(pixel - np.array(COLOURS[seg])).max() <= 6
    exported = json.loads((out / "eqben" / "eqbengebc.json").read_text())
    assert list(exported) == ["vidA"] and exported["vidA"][0]["caption0"] == rows[0]["caption_0"]
    data = get_benchmark("eqben").load(out / "eqben")
    assert [it.captions for it in data.items] == [[r["caption_0"], r["caption_1"]] for r in rows]
    assert {it.subset for it in data.items} == {"gebc"} and all(np.asarray(Image.open(i.path)).size for it in data.items for i in it.images)


def test_face_detector_on_real_photos():
    assert count_faces(Image.fromarray(skimage.data.astronaut())) >= 1
    for name in ("coffee", "rocket", "chelsea"):  # a cup, a rocket, a cat: no human face
        assert count_faces(Image.fromarray(getattr(skimage.data, name)()).convert("RGB")) == 0, name


def test_youcook2_middle_frames_face_filter_and_npy_export(tmp_path):
    face = np.asarray(Image.fromarray(skimage.data.astronaut()).resize((128, 128)))
    ann, videos = write_youcook2(tmp_path, face_image=face)
    out = tmp_path / "out"
    assert main(["build", "youcook2", "--annotations", str(ann), "--videos", str(videos), "--out", str(out),
                 "--export", "eqben", "--no-progress"]) == 0
    rows = _rows(out)
    # default: every pair of the 4 segments (EqBen's count needs them); segment 2 shows the astronaut's face: its 3 pairs go
    assert [(r["segment_id_0"], r["segment_id_1"]) for r in rows] == [(0, 1), (0, 3), (1, 3)]
    assert rows[0]["caption_0"] == "crack two eggs into a bowl" and (rows[0]["time_0"], rows[0]["time_1"]) == (1.0, 3.0)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["dropped"]["face"] == 3 and manifest["filters"]["face_filter"] is True
    assert manifest["settings"]["pairs"] == "all"
    assert manifest["counts"]["kept"] + sum(manifest["counts"]["dropped"].values()) == manifest["counts"]["candidates"] == 6
    data = get_benchmark("eqben").load(out / "eqben")
    assert data.items[0].images[0].path.endswith(".npy") and data.items[0].subset == "youcook2"
    bgr = np.load(data.items[0].images[0].path)
    rgb = np.asarray(Image.open(out / rows[0]["image_0"]))
    assert np.array_equal(bgr[:, :, ::-1], rgb)
    # --pairs consecutive, no face filter: the 3 consecutive pairs
    assert main(["build", "youcook2", "--annotations", str(ann), "--videos", str(videos), "--out", str(out),
                 "--pairs", "consecutive", "--no-face-filter", "--overwrite", "--no-progress"]) == 0
    assert [(r["segment_id_0"], r["segment_id_1"]) for r in _rows(out)] == [(0, 1), (1, 2), (2, 3)]


def test_ag_eqben_export_nested_caption_lists(tmp_path):
    write_ag(tmp_path)
    out = tmp_path / "out"
    assert main(["build", "ag", "--annotations", str(tmp_path / "annotations"), "--frames", str(tmp_path / "frames"),
                 "--out", str(out), "--export", "eqben", "--no-progress"]) == 0
    exported = json.loads((out / "eqben" / "eqbenag.json").read_text())
    recs = exported["AG001"]["cup/glass/bottle"]
    assert recs[0]["caption0"] == ["The person is looking at cup which is in front of him/her."]
    data = get_benchmark("eqben").load(out / "eqben")
    assert [it.captions for it in data.items] == [[r["caption_0"], r["caption_1"]] for r in _rows(out)]


def test_dhash_and_motion_words():
    a = Image.fromarray(skimage.data.coffee())
    assert hamming(dhash(a), dhash(a.resize((300, 200)))) <= 2  # same picture, smaller
    assert hamming(dhash(a), dhash(Image.fromarray(skimage.data.rocket()))) > 10
    assert motion_word_hits("He looks Up, then downstairs", ["up", "down", "towards"]) == ["up"]
    assert motion_word_hits("a cup on the table", ["up"]) == []


def test_wrong_dataset_and_bad_timestamps(tmp_path, capsys):
    gebc_ann, videos = write_gebc(tmp_path)
    yc_ann, yc_videos = write_youcook2(tmp_path)
    with pytest.raises(DataError, match="this is a YouCook2 annotation file; expected the GEBC layout"):
        read_gebc(yc_ann, videos)
    with pytest.raises(DataError, match="expected YouCook2's layout .* got a GEBC-style"):
        read_youcook2(gebc_ann, yc_videos)
    # a segment past the video's end (8 s video)
    db = json.loads(yc_ann.read_text())
    db["database"]["ycA"]["annotations"][3]["segment"] = [9.0, 11.0]
    yc_ann.write_text(json.dumps(db))
    code = main(["build", "youcook2", "--annotations", str(yc_ann), "--videos", str(yc_videos), "--out", str(tmp_path / "o"),
                 "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and len(err.splitlines()) == 1 and "timestamp 10.000 s is outside the video" in err and "ycA.mp4" in err
    assert "rerun with --resume to finish it" in err and "--overwrite to start again" in err  # a plain re-run is refused
    assert main(["build", "youcook2", "--annotations", str(yc_ann), "--videos", str(yc_videos), "--out", str(tmp_path / "o"),
                 "--no-progress", "--resume", "--skip-bad"]) == 0
    assert json.loads((tmp_path / "o" / "manifest.json").read_text())["counts"]["dropped"]["bad_frame"] == 3  # segment 3 is in 3 pairs


def test_undecodable_video_is_named_and_skipped(tmp_path, capsys):
    ann, videos = write_gebc(tmp_path)
    broken = next(videos.rglob("*.mp4"))
    broken.write_bytes(b"not a video at all")
    code = main(["build", "gebc", "--annotations", str(ann), "--videos", str(videos), "--out", str(tmp_path / "o"), "--no-progress"])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "vidA_000010_000020.mp4: cannot open video" in err and len(err.splitlines()) == 1
    assert main(["build", "gebc", "--annotations", str(ann), "--videos", str(videos), "--out", str(tmp_path / "o"),
                 "--no-progress", "--overwrite", "--skip-bad"]) == 0
    manifest = json.loads((tmp_path / "o" / "manifest.json").read_text())
    assert manifest["counts"]["bad_videos"] == 1 and "vidA" in manifest["bad_videos"]
