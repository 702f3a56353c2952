"""ImageCoDe: {set: {index: description}} + <set>/img<k>.jpg, zero_shot.py's top-1 accuracy, static vs video sets."""

import numpy as np
import pytest
from tests.helpers.bench import jpg, write_json
from tests.helpers.encoders import FakeEncoder

from eqvl.benchmarks import get_benchmark
from eqvl.errors import DataError, EqvlError
from eqvl.evaluation import evaluate

STATIC, VIDEO = "open-images-1609_0df0235796094a26", "MSR-VTT-videoTestVideo_video7763-shot2_1"


def _icode(root):
    for k in range(10):
        jpg(root / "data" / STATIC / f"img{k}.jpg", (20 * k, 0, 0))
        jpg(root / "data" / VIDEO / f"img{2 * k}.jpg", (0, 20 * k, 0))  # frame numbers 0, 2, ..., 18: sorted as numbers
    write_json(root / "data" / "valid_data.json", {STATIC: {"3": "Six sushi rolls in a circle. ", "0": "Two pieces of sushi."},
                                                   VIDEO: {"5": "The team name on the shirt is visible."}})


def one_row(best, tie=None):
    s = np.full((1, 10), 0.1)
    s[0, best] = 0.9
    if tie is not None:
        s[0, tie] = 0.9
    return s


def test_metrics_by_hand(tmp_path):
    _icode(tmp_path)
    bench = get_benchmark("imagecode")
    data = bench.load(tmp_path)
    assert bench.detect(tmp_path) and [it.id for it in data.items] == [f"{STATIC}/3", f"{STATIC}/0", f"{VIDEO}/5"]
    assert data.items[0].captions == ["Six sushi rolls in a circle."]  # stripped, as zero_shot.py does
    assert data.items[2].images[5].path.endswith(f"{VIDEO}/img10.jpg")  # index 5 of the numeric order, not img5.jpg
    assert [it.subset for it in data.items] == ["static", "static", "video"]
    scores = [one_row(3),          # right
              one_row(0, tie=1),   # tie of images 0 and 1, label 0: right (argsort keeps the first), wrong when strict
              one_row(4)]          # label 5: wrong
    res = bench.evaluate(data, scores)
    assert res["metrics"]["acc"] == pytest.approx(2 / 3)
    assert (res["metrics"]["static_acc"], res["metrics"]["video_acc"]) == (1.0, 0.0)
    assert res["subsets"] == {"static": {"acc": 1.0, "n": 2}, "video": {"acc": 0.0, "n": 1}}
    strict = bench.evaluate(bench.load(tmp_path, ties="strict"), scores)
    assert strict["metrics"]["static_acc"] == 0.5
    assert len(bench.load(tmp_path, sets="static").items) == 2


def test_engine_and_errors(tmp_path):
    _icode(tmp_path)
    bench = get_benchmark("imagecode")
    assert evaluate(FakeEncoder(), bench, tmp_path, progress=False).results["n_items"] == 3
    with pytest.raises(EqvlError, match="sets must be one of"):
        bench.load(tmp_path, sets="photos")
    with pytest.raises(DataError, match="not an imagecode folder|not a imagecode folder"):
        bench.load(tmp_path, split="train")
    write_json(tmp_path / "data" / "valid_data.json", {STATIC: {"12": "a"}})
    with pytest.raises(DataError, match=r"valid_data.json \(field '.*\.12'\): image index '12' is not one of the set's 10 images"):
        bench.load(tmp_path)
    write_json(tmp_path / "data" / "valid_data.json", {STATIC: ["unlabeled description"]})
    with pytest.raises(DataError, match="unlabeled test file"):
        bench.load(tmp_path)
    write_json(tmp_path / "data" / "valid_data.json", {"open-images-missing": {"2": "a red kite"}})
    with pytest.raises(DataError, match="record 'open-images-missing/2'.*img0.jpg"):
        evaluate(FakeEncoder(), bench, tmp_path, progress=False)


def test_real_records(tmp_path):
    """The first records of the real valid_data.json (tests/data/imagecode, MIT): a trailing space, keys out of order."""
    import json
    import shutil
    from pathlib import Path

    real = Path(__file__).parent / "data" / "imagecode" / "valid_data.json"
    shutil.copy(real, tmp_path / "valid_data.json")
    sets = json.loads(real.read_text(encoding="utf-8"))
    for name in sets:
        for k in range(10):
            jpg(tmp_path / "image-sets" / name / f"img{k * 4 if 'open-images' not in name else k}.jpg", (k, k, k))
    bench = get_benchmark("imagecode")
    data = bench.load(tmp_path)  # images under image-sets/
    assert len(data.items) == 8 and [it.subset for it in data.items] == ["video"] * 5 + ["static"] * 3
    grass = next(it for it in data.items if it.id == "open-images-1815_f91d6f546e63f20d/7")
    assert grass.captions[0].endswith("above flowers.")  # the file's trailing space stripped
    assert data.items[0].images[7].path.endswith("MSR-VTT-videoTestVideo_video7047-shot1_0/img28.jpg")
    # video items scored right (top image = label), static items wrong: acc 5/8, video 1, static 0
    scores = [one_row(it.meta["label"] if it.subset == "video" else (it.meta["label"] + 1) % 10) for it in data.items]
    res = bench.evaluate(data, scores)
    assert (res["metrics"]["acc"], res["metrics"]["video_acc"], res["metrics"]["static_acc"]) == (5 / 8, 1.0, 0.0)
