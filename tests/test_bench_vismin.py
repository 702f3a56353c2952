"""VisMin: a Hub copy (save_to_disk / parquet, images embedded), metric.py's text / image / group per category."""

import numpy as np
import pytest
from tests.helpers.bench import GOOD, TEXT_ONLY, TIE
from tests.helpers.tables import png_bytes, write_parquet, write_saved_split
from tests.helpers.encoders import FakeEncoder

from eqvl.benchmarks import get_benchmark
from eqvl.errors import DataError
from eqvl.evaluation import evaluate

IMAGE_ONLY = np.array([[0.5, 0.4], [0.6, 0.7]])
CATS = ["object", "object", "attribute", "counting", "relation"]


def _rows():
    return [{"id": k, "text_0": f"a cat left of a dog {k}", "text_1": f"a dog left of a cat {k}", "image_0": png_bytes((k, 0, 0)),
             "image_1": png_bytes((0, k, 0)), "category": cat} for k, cat in enumerate(CATS)]


def test_metrics_by_hand(tmp_path):
    write_saved_split(tmp_path, "test", _rows())  # eval.py: load_from_disk(DATA_PATH)["test"]
    bench = get_benchmark("vismin")
    data = bench.load(tmp_path)
    assert bench.detect(tmp_path) and [it.subset for it in data.items] == CATS
    assert data.items[1].captions == ["a cat left of a dog 1", "a dog left of a cat 1"]
    res = bench.evaluate(data, [GOOD, TEXT_ONLY, TIE, IMAGE_ONLY, GOOD])
    sub = res["subsets"]
    assert (sub["object"]["text"], sub["object"]["image"], sub["object"]["group"], sub["object"]["n"]) == (1.0, 0.5, 0.5, 2)
    assert (sub["counting"]["text"], sub["counting"]["image"]) == (0.0, 1.0) and sub["relation"]["group"] == 1.0
    m = res["metrics"]
    assert (m["text"], m["image"], m["group"]) == (0.6, 0.6, 0.4)  # pooled over the 5 twins
    assert (m["text_macro"], m["image_macro"], m["group_macro"]) == (0.5, 0.625, 0.375)  # mean of the 4 categories


def test_parquet_engine_and_errors(tmp_path):
    write_parquet(tmp_path / "hub" / "data" / "test-00000-of-00001.parquet", _rows())
    bench = get_benchmark("vismin")
    res = evaluate(FakeEncoder(), bench, tmp_path / "hub", progress=False)
    assert res.results["n_items"] == 5 and set(res.results["subsets"]) == set(CATS)
    rows = _rows()
    rows[2]["category"] = ""
    write_parquet(tmp_path / "bad" / "test.parquet", rows)
    with pytest.raises(DataError, match=r"test.parquet \(field '\[2\].category'\): empty string"):
        bench.load(tmp_path / "bad")
    rows = _rows()
    rows[3]["id"] = 1
    write_parquet(tmp_path / "bad" / "test.parquet", rows)
    with pytest.raises(DataError, match="record 3: duplicate id '1'"):
        bench.load(tmp_path / "bad")
    write_parquet(tmp_path / "bivlc" / "test.parquet", [{"image": png_bytes((1, 1, 1)), "caption": "a", "negative_caption": "b",
                                                          "negative_image": png_bytes((2, 2, 2)), "type": "add", "subtype": "obj"}])
    with pytest.raises(DataError, match=r"not a vismin folder \(it looks like a bivlc folder"):
        bench.load(tmp_path / "bivlc")
