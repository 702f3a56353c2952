"""COLA multi-object: the real first records (tests/data/cola, MIT), ColaMultiObjAcc as `acc`."""

import shutil
from pathlib import Path

import numpy as np
import pytest
from tests.helpers.bench import GOOD, TEXT_ONLY, TIE, jpg, write_json
from tests.helpers.encoders import FakeEncoder

from eqvl.benchmarks import get_benchmark
from eqvl.errors import DataError
from eqvl.evaluation import evaluate

REAL = Path(__file__).parent / "data" / "cola" / "COLA_multiobjects_matching_benchmark.json"
IMAGE_ONLY = np.array([[0.5, 0.4], [0.6, 0.7]])  # caption 0 prefers image 0, caption 1 image 1; text order wrong


def _cola(tmp_path):
    (tmp_path / "data").mkdir()
    shutil.copy(REAL, tmp_path / "data" / REAL.name)
    for vg_id in (2390970, 2388902, 2383130, 2382835, 2338191, 2397556, 2401635, 2405664):
        jpg(tmp_path / "images" / f"{vg_id}.jpg", (vg_id % 256, 0, 0))


def test_real_records_metric_by_hand(tmp_path):
    _cola(tmp_path)
    bench = get_benchmark("cola")
    data = bench.load(tmp_path)
    assert bench.detect(tmp_path) and len(data.items) == 4
    first = data.items[0]
    assert first.captions == ["standing tall long giraffe to the right of brown giraffe", "brown giraffe behind tall white giraffe"]
    assert [r.path for r in first.images] == [str(tmp_path / "images" / "2390970.jpg"), str(tmp_path / "images" / "2388902.jpg")]
    res = bench.evaluate(data, [GOOD, TEXT_ONLY, TIE, IMAGE_ONLY])
    # official ColaMultiObjAcc = each caption's own image wins: GOOD, IMAGE_ONLY -> 2/4
    assert res["metrics"] == {"acc": 0.5, "text": 0.5, "group": 0.25}
    assert evaluate(FakeEncoder(), bench, tmp_path, progress=False).results["n_items"] == 4


def test_errors(tmp_path):
    _cola(tmp_path)
    bench = get_benchmark("cola")
    (tmp_path / "images" / "2338191.jpg").unlink()
    with pytest.raises(DataError, match="record '2'.*2338191.jpg"):
        evaluate(FakeEncoder(), bench, tmp_path, progress=False)
    assert evaluate(FakeEncoder(), bench, tmp_path, skip_bad=True, progress=False).results["skipped"]["n"] == 1
    write_json(tmp_path / "data" / REAL.name, [["a.jpg", "a cat", "b.jpg"]])
    with pytest.raises(DataError, match=r"field '\[0\]'\): record 0: expected \[image_1"):
        bench.load(tmp_path)
    write_json(tmp_path / "data" / REAL.name, [["a.jpg", "a cat", "b.jpg", 3]])
    with pytest.raises(DataError, match=r"field '\[0\]\[3\]'\): record 0: caption_2 must be"):
        bench.load(tmp_path)
    (tmp_path / "x" / "corpus" / "v1").mkdir(parents=True)
    with pytest.raises(DataError, match=r"not a cola folder \(it looks like a vl-checklist"):
        bench.load(tmp_path / "x")
