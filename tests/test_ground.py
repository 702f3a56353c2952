"""Video boundary grounding: the search, the accuracy, `eqvl ground` and `--benchmark gebc-grounding`."""

import json

import numpy as np
import pytest

from eqvl.grounding.boundary import THRESHOLDS, boundary_from_scores, ground_video, grounding_accuracy
from eqvl.video.synthetic import segment_video
from eqvl.cli import main
from eqvl.errors import EqvlError
from tests.helpers.encoders import MeanColourEncoder
from tests.helpers.videos import write_gebc

RED, BLUE = (220, 20, 20), (20, 20, 220)


def test_boundary_search_by_hand():
    times = [0.0, 0.2, 0.4, 0.6]
    # s_b[t] + s_a[t+1]: t=0: 1+0.1, t=1: 0.9+0.8, t=2: 0.2+0.9 -> t=1, midpoint 0.3
    assert boundary_from_scores([1.0, 0.9, 0.2, 0.1], [0.0, 0.1, 0.8, 0.9], times) == (pytest.approx(0.3), 1)
    with pytest.raises(EqvlError, match="at least 2 frames"):
        boundary_from_scores([1.0], [1.0], [0.0])


def test_accuracy_thresholds():
    acc = grounding_accuracy([1.0, 2.0, 5.0], [1.05, 2.6, 1.0])  # errors 0.05, 0.6, 4.0
    assert acc["accuracy@0.1s"] == pytest.approx(1 / 3) and acc["accuracy@0.5s"] == pytest.approx(1 / 3)
    assert acc["accuracy@1s"] == pytest.approx(2 / 3) and acc["accuracy@3s"] == pytest.approx(2 / 3)
    assert acc["accuracy_avg"] == pytest.approx(np.mean([acc[f"accuracy@{t:g}s"] for t in THRESHOLDS]))
    assert len(THRESHOLDS) == 8


@pytest.mark.parametrize("change_at", [3.3, 5.7])
def test_planted_boundary_found_within_0_2_s(tmp_path, change_at):
    # a 10 fps video, red until change_at, blue after (a white square moves across both)
    fps, n = 10, 80
    per = int(round(change_at * fps))
    from eqvl.video.synthetic import colour_frame, write_video

    video = write_video(tmp_path / "v.mp4", n, fps, (48, 32), lambda k: colour_frame(RED if k < per else BLUE, k, (48, 32)))
    g = ground_video(MeanColourEncoder(), video, "a red", "a blue", fps=5)
    assert abs(g.time - change_at) <= 0.2
    assert len(g.times) == 40 and g.times[1] == pytest.approx(0.2)


def test_ground_cli_tiny_model_output_format(tmp_path, capsys):
    video = segment_video(tmp_path / "v.mp4", [RED, BLUE], 1.0, fps=10, size=(48, 32))
    assert main(["ground", "--model", "eqvl-tiny-rn", "--pretrained", "none", "--video", str(video),
                 "--before", "a red square", "--after", "a blue square", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert len(out["times"]) == 10 and len(out["s_before"]) == 10 and len(out["s_after"]) == 10
    assert 0 <= out["frame"] < 9 and out["boundary_s"] == pytest.approx((out["times"][out["frame"]] + out["times"][out["frame"] + 1]) / 2, abs=1e-3)
    assert main(["ground", "--model", "eqvl-tiny-rn", "--pretrained", "none", "--video", str(video), "--before", "x", "--after", "y"]) == 0
    assert capsys.readouterr().out.startswith("boundary at ")
    assert main(["ground", "--model", "eqvl-tiny-rn", "--video", str(video), "--before", "x", "--after", "y"]) == 2
    assert "no --pretrained given" in capsys.readouterr().err
    assert main(["ground", "--model", "eqvl-tiny-rn", "--pretrained", "none", "--video", str(tmp_path / "none.mp4"),
                 "--before", "x", "--after", "y"]) == 2
    assert "none.mp4: video file not found" in capsys.readouterr().err


def test_gebc_grounding_benchmark_exact_with_stub(tmp_path):
    from eqvl.evaluation import evaluate

    # 3 segments red | green | blue, 2 s each; boundaries at 2.0 and 4.0
    video = segment_video(tmp_path / "data" / "videos" / "k" / "vid1_000000_000006.mp4", [RED, (20, 220, 20), BLUE], 2.0, fps=10)
    ann = {"vid1": [
        {"boundary_id": "vid1_0", "timestamp": 2.0, "prev_timestamp": 0.0, "next_timestamp": 4.0, "subject": "a",
         "status_before": "red", "status_after": "green"},
        {"boundary_id": "vid1_1", "timestamp": 4.0, "prev_timestamp": 2.0, "next_timestamp": 6.0, "subject": "a",
         "status_before": "green", "status_after": "blue"},
        # a wrong annotation: the colour change is 1.4 s away from it
        {"boundary_id": "vid1_2", "timestamp": 5.4, "prev_timestamp": 4.0, "next_timestamp": 6.0, "subject": "a",
         "status_before": "green", "status_after": "blue"},
    ]}
    (tmp_path / "data" / "val.json").write_text(json.dumps(ann))
    assert video.is_file()
    res = evaluate(MeanColourEncoder(), "gebc-grounding", tmp_path / "data", progress=False,
                   options={"frames_dir": str(tmp_path / "frames")})
    m = res.results["metrics"]
    assert m["accuracy@0.2s"] == pytest.approx(2 / 3) and m["accuracy@1s"] == pytest.approx(2 / 3)
    # the prediction for the wrong annotation is 3.9 s (between frames 3.8 and 4.0): exactly 1.5 s off, a miss at 1.5 s
    # (strict <, as GEB+'s compute_f1), a hit at 2 s
    assert m["accuracy@1.5s"] == pytest.approx(2 / 3) and m["accuracy@2s"] == pytest.approx(1.0)
    assert res.scores[0].shape == (2, 30)


def test_gebc_grounding_eval_cli_tiny_model(tmp_path, capsys):
    ann, videos = write_gebc(tmp_path)
    (ann.parent / "videos").symlink_to(videos)
    out = tmp_path / "res.json"
    assert main(["eval", "--model", "eqvl-tiny-rn", "--pretrained", "none", "--benchmark", "gebc-grounding", "--data", str(ann.parent),
                 "--output", str(out), "--no-progress", "--no-cache", "--option", f"frames_dir={tmp_path / 'frames'}"]) == 0
    res = json.loads(out.read_text())
    assert set(res["metrics"]) == {f"accuracy@{t:g}s" for t in THRESHOLDS} | {"accuracy_avg"}
    assert all(0.0 <= v <= 1.0 for v in res["metrics"].values()) and res["subsets"]["gebc"]["n"] == 5


def test_accuracy_counts_strictly_closer_as_gebplus_compute_f1():
    # GEB+'s compute_f1 counts a hit when dist < th: an error of exactly the threshold is a miss
    acc = grounding_accuracy([1.5, 2.0], [1.0, 2.0], thresholds=(0.5,))
    assert acc["accuracy@0.5s"] == pytest.approx(0.5)


@pytest.mark.parametrize("seconds", [4, 16])
def test_ground_keeps_at_most_one_batch_of_frames(tmp_path, monkeypatch, seconds):
    """Frames are streamed: however long the video, at most one batch of decoded frames is alive at once."""
    import weakref

    from eqvl.video.reader import VideoReader

    video = segment_video(tmp_path / "v.mp4", [RED, BLUE], seconds / 2, fps=10, size=(48, 32))
    alive: list = []
    peak = [0]
    original = VideoReader.frames_at

    def counting(self, times):
        images = original(self, times)  # frames are freed by reference counting: no gc pass needed
        alive[:] = [r for r in alive if r() is not None] + [weakref.ref(im) for im in images]
        peak[0] = max(peak[0], len(alive))
        return images

    monkeypatch.setattr(VideoReader, "frames_at", counting)
    g = ground_video(MeanColourEncoder(), video, "a red", "a blue", fps=5, batch_size=4)
    assert len(g.times) == seconds * 5 and abs(g.time - seconds / 2) <= 0.2
    assert peak[0] <= 4 + 1  # a batch being filled plus the new frame, not all seconds * 5 frames
