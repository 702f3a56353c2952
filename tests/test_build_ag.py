"""eqvl build ag: Action Genome's official layout -> twins (appendix B.1's rule, template, frames)."""

import json
import pickle
from collections import Counter

import numpy as np
import pytest
from PIL import Image

from eqvl.benchmarks import get_benchmark
from eqvl.videotwins.ag import TEMPLATE, differing, pair_track, read_ag
from eqvl.cli import main
from eqvl.errors import DataError
from tests.helpers.videos import COLOURS, CUP_PAIRS, CUP_TRACK, write_ag


def test_pair_rule_by_hand():
    # positions 0..5 with relations A A B C D D (see CUP_TRACK): diffs A-B 2, B-D 3, A-C 1, C-D 1
    frames = sorted(CUP_TRACK)
    rels = [tuple(tuple(x) for x in CUP_TRACK[n]) for n in frames]
    chosen, why = pair_track(frames, rels)
    assert [(frames[i], frames[j]) for i, j in chosen] == CUP_PAIRS
    # 15 pairs: 2 chosen; <2 differ: 0-1 0-3 1-3 3-4 3-5 4-5; touch a blocked frame (1, 3, 5): 0-5 1-2 1-4 1-5 2-3 2-5;
    # 0-4 differs in 2 but anchor 0 already has its pair
    assert why == Counter(relations_differ_lt_2=6, next_frame_of_chosen=6, anchor_already_paired=1)
    assert differing(rels[0], rels[2]) == 2 and differing(rels[0], rels[1]) == 0


def test_plan_captions_and_filters(tmp_path):
    ann = write_ag(tmp_path)
    plan = read_ag(ann, frames_dir=tmp_path / "frames")
    (track,) = plan.videos[0].tracks  # pairs are chosen after extraction; the relation rule alone gives CUP_PAIRS
    chosen, _ = pair_track(track.numbers, track.relations)
    assert [(track.numbers[i], track.numbers[j]) for i, j in chosen] == CUP_PAIRS
    caps = dict(zip(track.numbers, (c[0] for c in track.captions)))
    assert caps[10] == TEMPLATE.format(attention="looking at", object="cup", spatial="in front of")
    assert caps[10] == "The person is looking at cup which is in front of him/her."
    assert caps[30] == "The person is not looking at cup which is beneath him/her."
    assert caps[50] == "The person is looking at cup which is behind him/her."
    assert plan.candidates == 15  # cup track C(6,2); AG002 (no person detected) forms no track
    assert plan.dropped["frame_object_invisible"] == 6 and plan.dropped["frame_no_person"] == 2
    assert [v.video for v in plan.videos] == ["AG001"]


def _build(tmp_path, *extra):
    return main(["build", "ag", "--annotations", str(tmp_path / "annotations"), "--out", str(tmp_path / "out"),
                 "--no-progress", *extra])


def test_cli_frames_folder_twins_reader_and_manifest(tmp_path, capsys):
    write_ag(tmp_path)
    assert _build(tmp_path, "--frames", str(tmp_path / "frames"), "--image-format", "png") == 0
    out = tmp_path / "out"
    rows = [json.loads(line) for line in (out / "twins.jsonl").read_text().splitlines()]
    assert [(r["frame_id_0"], r["frame_id_1"]) for r in rows] == CUP_PAIRS
    assert rows[0]["video"] == "AG001" and rows[0]["rule"].startswith("ag:") and rows[0]["object"] == "cup/glass/bottle"
    # frame images are the annotated frames, pixel for pixel (png)
    src = np.asarray(Image.open(tmp_path / "frames" / "AG001.mp4" / "000030.png"))
    assert np.array_equal(np.asarray(Image.open(out / rows[0]["image_1"])), src)
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["counts"]["candidates"] == 15 and manifest["counts"]["kept"] == 2
    assert manifest["counts"]["dropped"]["relations_differ_lt_2"] == 6
    assert manifest["counts"]["annotations_dropped"] == {"frame_no_person": 2, "frame_object_invisible": 6}
    assert sum(manifest["counts"]["dropped"].values()) + 2 == 15  # every candidate pair is kept or dropped once
    assert manifest["filters"]["dhash_near_duplicate_max_bits"] == 2
    data = get_benchmark("twins").load(out)
    assert [it.captions for it in data.items] == [[r["caption_0"], r["caption_1"]] for r in rows]
    assert all(it.subset == "ag" for it in data.items)
    assert "2 twins from 15 candidate pairs" in capsys.readouterr().out


def test_cli_from_video_matches_frame_colours(tmp_path):
    write_ag(tmp_path, frames=False, video=True)
    assert _build(tmp_path, "--videos", str(tmp_path / "videos"), "--image-format", "png") == 0
    rows = [json.loads(line) for line in (tmp_path / "out" / "twins.jsonl").read_text().splitlines()]
    assert [(r["frame_id_0"], r["frame_id_1"]) for r in rows] == CUP_PAIRS
    for r in rows:
        for k in (0, 1):
            n = r[f"frame_id_{k}"]
            pixel = np.asarray(Image.open(tmp_path / "out" / r[f"image_{k}"]))[-1, -1].astype(int)
            # AG frame id n is decoded frame n-1 (ffmpeg's %06d numbering starts at 1); a 10 fps video with
            # 1 s colour segments shows COLOURS[(n - 1) // 10] there (frame 10 is still segment 0's colour)
            assert np.abs(pixel - np.array(COLOURS[(n - 1) // 10])).max() <= 6


def test_refuses_existing_output_and_resumes_identically(tmp_path, capsys):
    write_ag(tmp_path)
    frames = ["--frames", str(tmp_path / "frames")]
    assert _build(tmp_path, *frames) == 0
    first = (tmp_path / "out" / "twins.jsonl").read_bytes(), (tmp_path / "out" / "manifest.json").read_bytes()
    image = next((tmp_path / "out" / "images").rglob("*.jpg")).read_bytes()
    assert _build(tmp_path, *frames) == 2
    assert "already exists; pass --overwrite" in capsys.readouterr().err
    assert _build(tmp_path, *frames, "--overwrite") == 0
    assert ((tmp_path / "out" / "twins.jsonl").read_bytes(), (tmp_path / "out" / "manifest.json").read_bytes()) == first
    assert next((tmp_path / "out" / "images").rglob("*.jpg")).read_bytes() == image
    assert _build(tmp_path, *frames, "--resume") == 0
    assert (tmp_path / "out" / "twins.jsonl").read_bytes() == first[0]
    assert _build(tmp_path, *frames, "--resume", "--split", "test") == 2
    assert "different settings (settings)" in capsys.readouterr().err


def test_bad_inputs_one_line_errors(tmp_path, capsys):
    ann = write_ag(tmp_path)
    # missing video: named; --skip-bad counts it
    assert _build(tmp_path, "--videos", str(tmp_path / "nowhere")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "AG001.mp4: video file not found" in err
    assert _build(tmp_path, "--videos", str(tmp_path / "nowhere"), "--skip-bad", "--overwrite") == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    # the 9 pairs the relation rule allows are lost with the video (6 differ in < 2 relation sets)
    assert manifest["counts"]["bad_videos"] == 1 and manifest["counts"]["dropped"]["bad_video"] == 9
    # a file of another dataset in place of the object pickle
    with open(ann / "object_bbox_and_relationship.pkl", "wb") as f:
        pickle.dump({"vidA": [{"timestamp": 1.0}]}, f)
    with pytest.raises(DataError, match="expected Action Genome's layout"):
        read_ag(ann, frames_dir=tmp_path / "frames")
    (ann / "relationship_classes.txt").write_text("\n")
    with pytest.raises(DataError, match="relationship_classes.txt: empty vocabulary"):
        read_ag(ann, frames_dir=tmp_path / "frames")


def test_unknown_relationship_named(tmp_path):
    ann = write_ag(tmp_path)
    objects = pickle.loads((ann / "object_bbox_and_relationship.pkl").read_bytes())
    objects["AG001.mp4/000010.png"][0]["spatial_relationship"] = ["sideways"]
    (ann / "object_bbox_and_relationship.pkl").write_bytes(pickle.dumps(objects))
    with pytest.raises(DataError, match=r"AG001.mp4/000010.png.spatial_relationship'\): 'sideways' is not in relationship_classes.txt"):
        read_ag(ann, frames_dir=tmp_path / "frames")


def test_workers_give_identical_output(tmp_path):
    write_ag(tmp_path, frames=False, video=True)
    assert _build(tmp_path, "--videos", str(tmp_path / "videos")) == 0
    one = (tmp_path / "out" / "twins.jsonl").read_bytes()
    assert main(["build", "ag", "--annotations", str(tmp_path / "annotations"), "--videos", str(tmp_path / "videos"),
                 "--out", str(tmp_path / "out2"), "--workers", "2", "--no-progress"]) == 0
    assert (tmp_path / "out2" / "twins.jsonl").read_bytes() == one
    # --workers 0 = in this process, as in every command (issue 26.7)
    assert main(["build", "ag", "--annotations", str(tmp_path / "annotations"), "--videos", str(tmp_path / "videos"),
                 "--out", str(tmp_path / "out0"), "--workers", "0", "--no-progress"]) == 0
    assert (tmp_path / "out0" / "twins.jsonl").read_bytes() == one


def _rows(tmp_path):
    return [json.loads(line) for line in (tmp_path / "out" / "twins.jsonl").read_text().splitlines()]


def test_filters_take_part_in_choosing_partners(tmp_path):
    write_ag(tmp_path)
    frames = tmp_path / "frames" / "AG001.mp4"
    # frame 30 (anchor 10's first partner by the relation rule) shows the same picture as frame 10: near-duplicate
    (frames / "000030.png").write_bytes((frames / "000010.png").read_bytes())
    assert _build(tmp_path, "--frames", str(tmp_path / "frames")) == 0
    # anchor 10 goes on to its next valid partner, 50 (2 sets differ); 30 then pairs with 40 (3 sets differ)
    assert [(r["frame_id_0"], r["frame_id_1"]) for r in _rows(tmp_path)] == [(10, 50), (30, 40)]
    counts = json.loads((tmp_path / "out" / "manifest.json").read_text())["counts"]
    assert counts["dropped"]["near_duplicate"] == 1 and counts["kept"] + sum(counts["dropped"].values()) == counts["candidates"] == 15


def test_duplicate_images_are_scoped_per_video_and_object(tmp_path):
    ann = write_ag(tmp_path)
    objects = pickle.loads((ann / "object_bbox_and_relationship.pkl").read_bytes())
    for n, rel in CUP_TRACK.items():  # a dish with the cup's relations in the same frames: same two pictures, other subject
        key = f"AG001.mp4/{n:06d}.png"
        objects[key].append({**objects[key][0], "class": "dish"})
    (ann / "object_bbox_and_relationship.pkl").write_bytes(pickle.dumps(objects))
    assert _build(tmp_path, "--frames", str(tmp_path / "frames")) == 0
    rows = _rows(tmp_path)
    assert [(r["object"], r["frame_id_0"], r["frame_id_1"]) for r in rows] == \
        [("cup/glass/bottle", 10, 30), ("cup/glass/bottle", 30, 50), ("dish", 10, 30), ("dish", 30, 50)]
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert manifest["filters"]["duplicate_images_scope"] == "video"
    assert _build(tmp_path, "--frames", str(tmp_path / "frames"), "--overwrite", "--duplicate-scope", "build") == 0
    # across the build, the dish may not reuse the cup's two pictures: it takes its next valid partners instead
    assert [(r["object"], r["frame_id_0"], r["frame_id_1"]) for r in _rows(tmp_path)] == \
        [("cup/glass/bottle", 10, 30), ("cup/glass/bottle", 30, 50), ("dish", 10, 50), ("dish", 30, 40)]


def test_broken_records_are_errors_not_zero_twins(tmp_path, capsys):
    ann = write_ag(tmp_path)
    objects = pickle.loads((ann / "object_bbox_and_relationship.pkl").read_bytes())
    objects["AG001.mp4/000020.png"][0]["spatial_relationship"] = None  # visible, no relations
    (ann / "object_bbox_and_relationship.pkl").write_bytes(pickle.dumps(objects))
    assert _build(tmp_path, "--frames", str(tmp_path / "frames")) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and "AG001.mp4/000020.png.spatial_relationship" in err and "visible object without" in err
    ann2 = write_ag(tmp_path / "second")
    (ann2 / "person_bbox.pkl").write_bytes(pickle.dumps({}))
    with pytest.raises(DataError, match=r"person_bbox.pkl: no person boxes at all"):
        read_ag(ann2, frames_dir=tmp_path / "second" / "frames")


def test_frame_no_person_is_flagged_as_a_departure(tmp_path):
    write_ag(tmp_path)
    assert _build(tmp_path, "--frames", str(tmp_path / "frames")) == 0
    manifest = json.loads((tmp_path / "out" / "manifest.json").read_text())
    assert "frame_no_person" in manifest["settings"]["departures"]
