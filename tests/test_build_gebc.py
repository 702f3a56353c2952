"""GEBC on the real GEB+ structure (several annotators on one timestamp), motion-word forms, NaN / negative times."""

import json

import numpy as np
import pytest
from PIL import Image

from eqvl.cli import main
from eqvl.errors import DataError
from eqvl.videotwins.filters import motion_word_hits
from eqvl.videotwins.gebc import read_gebc
from eqvl.videotwins.youcook2 import read_youcook2
from tests.helpers.videos import GEBP_COLOURS, GEBP_INSTANTS, write_gebc_multi, write_youcook2


def _instants_between(t0, t1, instants):
    return sum(1 for t in instants if t0 < t < t1)


def test_annotators_of_one_timestamp_are_one_boundary(tmp_path):
    ann, videos = write_gebc_multi(tmp_path)
    plan = read_gebc(ann, videos, motion_words=())
    (vp,) = plan.videos
    # 4 distinct instants -> 5 segments -> gap-2 pairs (0,2) (1,3) (2,4); the 5 records would give 4 with 1A / 1B apart
    assert plan.candidates == 3 and [(c.extra["segment_0"], c.extra["segment_1"]) for c in vp.candidates] == [(0, 2), (1, 3), (2, 4)]
    for c in vp.candidates:
        t0, t1 = vp.frames[c.frame_0].time, vp.frames[c.frame_1].time
        assert _instants_between(t0, t1, GEBP_INSTANTS) == 2  # never two captions of one instant
        assert all(abs(t - b) > 0.1 for t in (t0, t1) for b in GEBP_INSTANTS)  # frames mid-segment, not on a boundary
    assert vp.frames[vp.candidates[0].frame_1].time == pytest.approx((GEBP_INSTANTS[1] + GEBP_INSTANTS[2]) / 2, abs=1e-6)
    # instant 1 has annotators A and B: the "before" side of pair (1,3) keeps both captions, A's is the twin's
    c = vp.candidates[1]
    assert c.extra["boundaries_0"] == ["-N69Jdzk6B4_1A", "-N69Jdzk6B4_1B"]
    assert c.extra["captions_0"] == ["Human hands with yellow wrist bands holding meat in both hands.",
                                     "Human hands holding a piece of meat over the foil tray."]
    assert c.caption_0 == c.extra["captions_0"][0]
    # the after-side of pair (0,2) is instant 1: both annotators' status_after
    assert vp.candidates[0].extra["captions_1"][1] == "Human hands let the meat fall into the tray."


def test_cli_frames_show_their_segment(tmp_path):
    ann, videos = write_gebc_multi(tmp_path)
    out = tmp_path / "out"
    assert main(["build", "gebc", "--annotations", str(ann), "--videos", str(videos), "--out", str(out),
                 "--image-format", "png", "--no-progress"]) == 0
    rows = [json.loads(x) for x in (out / "twins.jsonl").read_text().splitlines()]
    # default motion words: pair (1,3)'s after-caption "shift both hands upwards" is dropped ("upwards" is a form of "up")
    assert [(r["segment_0"], r["segment_1"]) for r in rows] == [(0, 2), (2, 4)]
    for r in rows:
        assert _instants_between(r["time_0"], r["time_1"], GEBP_INSTANTS) == 2
        for k in (0, 1):
            pixel = np.asarray(Image.open(out / r[f"image_{k}"]))[-1, -1].astype(int)
            assert np.abs(pixel - np.array(GEBP_COLOURS[r[f"segment_{k}"]])).max() <= 6
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["candidates"] == 3 and manifest["counts"]["dropped"] == {"motion_word": 1}


def test_motion_word_forms():
    from eqvl.videotwins.filters import word_forms

    assert word_forms("up") == {"up", "upward", "upwards"} and word_forms("towards") == {"toward", "towards"}
    words = ("up", "down", "upward", "downward", "towards")
    for text in ("lift the hand upwards", "move downwards", "walk toward the door", "walk towards the door", "look up"):
        assert motion_word_hits(text, words), text
    for text in ("walk downstairs", "a cup on the table", "stand upright", "hold the uptake"):
        assert motion_word_hits(text, words) == [], text


@pytest.mark.parametrize("bad, match", [(float("nan"), "a finite number"), (-2.0, "seconds >= 0"), ("3.1", "seconds, got '3.1'")])
def test_gebc_bad_timestamps_are_named(tmp_path, bad, match):
    ann, videos = write_gebc_multi(tmp_path)
    data = json.loads(ann.read_text())
    data["-N69Jdzk6B4"][2]["timestamp"] = bad
    ann.write_text(json.dumps(data))  # json writes NaN, as Python's json reads it
    with pytest.raises(DataError, match=rf"val.json \(field '-N69Jdzk6B4\[2\].timestamp'\): expected {match}"):
        read_gebc(ann, videos)


@pytest.mark.parametrize("span, db", [([float("nan"), 3.0], None), ([-1.0, 2.0], None), (None, {"database": {}})])
def test_youcook2_bad_segments_and_empty_database(tmp_path, span, db):
    ann, videos = write_youcook2(tmp_path)
    data = json.loads(ann.read_text()) if db is None else db
    if span is not None:
        data["database"]["ycA"]["annotations"][1]["segment"] = span
    ann.write_text(json.dumps(data))
    field = r"ycA.annotations\[1\].segment'\): expected segment" if span is not None else r"database'\): the database holds no"
    with pytest.raises(DataError, match=rf"\(field '{field}"):
        read_youcook2(ann, videos)


def test_youcook2_default_pairs_every_segment_of_a_video(tmp_path):
    ann, videos = write_youcook2(tmp_path)
    plan = read_youcook2(ann, videos)
    assert plan.settings["pairs"] == "all" and plan.candidates == 6  # C(4, 2)
    assert read_youcook2(ann, videos, pairs="consecutive").candidates == 3


def test_counts_script_on_the_gebplus_layout(tmp_path, monkeypatch, capsys):
    import runpy
    import sys
    from pathlib import Path

    ann, _ = write_gebc_multi(tmp_path)
    script = Path(__file__).resolve().parents[1] / "scripts" / "gebc_twin_counts.py"
    monkeypatch.setattr(sys, "argv", [str(script), str(ann)])
    runpy.run_path(str(script), run_name="__main__")
    out = capsys.readouterr().out
    assert "boundary records: 5; distinct boundary instants: 4" in out
    assert "instants with several annotators' records: 1 (in 1 videos)" in out
    assert "candidates: 3; kept (before the image filters): 2" in out and "dropped: motion_word 1" in out
    assert "straddle < 2 distinct boundary instants: 0" in out and "frames on a boundary instant (within 1 ms): 0" in out
