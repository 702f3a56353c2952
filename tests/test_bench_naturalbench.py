"""NaturalBench-Retrieval: metadata.json + images/, get_retrieval_acc's text / image / group."""

import numpy as np
import pytest
from tests.helpers.bench import GOOD, TEXT_ONLY, TIE, png, write_json
from tests.helpers.encoders import FakeEncoder

from eqvl.benchmarks import get_benchmark
from eqvl.errors import DataError
from eqvl.evaluation import evaluate

IMAGE_ONLY = np.array([[0.5, 0.4], [0.6, 0.7]])  # image right (0.5 > 0.4, 0.7 > 0.6), text wrong (0.5 < 0.6)


def _nb(root, n=4):
    folder = root / "NaturalBench-Retrieval"
    for k in range(2 * n):
        png(folder / "images" / f"{k}.jpg", (20 * k, 50, 90))
    write_json(folder / "metadata.json", [{"index": k, "image_0": f"{2 * k}.jpg", "image_1": f"{2 * k + 1}.jpg",
                                           "caption_0": f"Is the dog on the left? {k}", "caption_1": f"Is the dog on the right? {k}"}
                                          for k in range(n)])
    return folder


def test_metrics_by_hand(tmp_path):
    folder = _nb(tmp_path)
    bench = get_benchmark("naturalbench")
    data = bench.load(tmp_path)  # the zip's parent folder
    assert bench.detect(tmp_path) and bench.detect(folder)
    assert [it.id for it in data.items] == ["0", "1", "2", "3"]
    assert data.items[3].images[1].path == str(folder / "images" / "7.jpg")
    res = bench.evaluate(data, [GOOD, TEXT_ONLY, TIE, IMAGE_ONLY])
    # text: GOOD, TEXT_ONLY -> 2/4; image: GOOD, IMAGE_ONLY -> 2/4; group: GOOD -> 1/4
    assert (res["metrics"]["text"], res["metrics"]["image"], res["metrics"]["group"]) == (0.5, 0.5, 0.25)
    assert len(bench.load(folder / "metadata.json").items) == 4


def test_engine_and_errors(tmp_path):
    folder = _nb(tmp_path, n=3)
    bench = get_benchmark("naturalbench")
    assert evaluate(FakeEncoder(), bench, folder, progress=False).results["n_items"] == 3
    write_json(folder / "metadata.json", [{"index": 1, "image_0": "0.jpg", "image_1": "1.jpg", "caption_0": "a", "caption_1": "b"}])
    with pytest.raises(DataError, match=r"metadata.json \(field '\[0\].index'\): record 0: index 1 should be 0"):
        bench.load(folder)
    write_json(folder / "metadata.json", [{"index": 0, "image_0": "0.jpg", "caption_0": "a", "caption_1": "b"}])
    with pytest.raises(DataError, match=r"field '\[0\].image_1'\): record 0: missing image"):
        bench.load(folder)
    write_json(folder / "metadata.json", [{"index": 0, "image_0": "0.jpg", "image_1": "gone.jpg", "caption_0": "a", "caption_1": "b"}])
    with pytest.raises(DataError, match="record '0'.*image file not found"):
        evaluate(FakeEncoder(), bench, folder, progress=False)
    (tmp_path / "spec" / "count").mkdir(parents=True)
    write_json(tmp_path / "spec" / "count" / "image2text.json", [])
    with pytest.raises(DataError, match=r"not a naturalbench folder \(it looks like a spec folder"):
        bench.load(tmp_path / "spec")
