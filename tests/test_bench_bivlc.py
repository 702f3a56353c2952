"""BiVLC: a Hub copy (parquet, images embedded) scored as evaluate_BiVLC, per type and subtype."""

import numpy as np
import pytest
from tests.helpers.bench import GOOD, TEXT_ONLY, TIE
from tests.helpers.tables import jpg_bytes, png_bytes, write_parquet, write_saved_split
from tests.helpers.encoders import FakeEncoder

from eqvl.benchmarks import get_benchmark
from eqvl.data.images import load_image
from eqvl.errors import DataError
from eqvl.evaluation import evaluate

T2I_ONLY = np.array([[0.5, 0.4], [0.6, 0.7]])  # [caption, negative_caption] x [image, negative_image]


def _rows(n=4):
    kinds = [("replace", "obj"), ("replace", "att"), ("swap", "obj"), ("add", "obj")]
    return [{"image": jpg_bytes((40 * k, 0, 0)), "caption": f"a man throwing a ball {k}",
             "negative_caption": f"a ball throwing a man {k}", "negative_image": png_bytes((0, 40 * k, 200)),
             "type": kinds[k % 4][0], "subtype": kinds[k % 4][1]} for k in range(n)]


def test_metrics_by_hand(tmp_path):
    write_parquet(tmp_path / "data" / "test-00000-of-00001.parquet", _rows())
    bench = get_benchmark("bivlc")
    data = bench.load(tmp_path)
    assert bench.detect(tmp_path) and len(data.items) == 4
    assert data.items[1].captions == ["a man throwing a ball 1", "a ball throwing a man 1"]
    assert data.items[1].images[0].path.endswith(".jpg") and data.items[1].images[1].path.endswith(".png")
    assert np.asarray(load_image(data.items[2].images[1]))[0, 0].tolist() == [0, 80, 200]
    res = bench.evaluate(data, [GOOD, TEXT_ONLY, TIE, T2I_ONLY])
    m = res["metrics"]
    # GOOD: all four comparisons right; TEXT_ONLY: Ipos, Ineg, Tneg right (Tpos 0.5 < 0.55);
    # TIE: none; T2I_ONLY: Ineg (0.7 > 0.4), Tpos (0.5 > 0.4), Tneg (0.7 > 0.6), not Ipos (0.5 < 0.6)
    assert (m["i2t"], m["t2i"], m["group"]) == (0.5, 0.5, 0.25)
    assert (m["ipos_2t"], m["ineg_2t"], m["tpos_2i"], m["tneg_2i"]) == (0.5, 0.75, 0.5, 0.75)
    assert list(res["subsets"]) == ["replace", "swap", "add"]
    assert res["subsets"]["replace"]["i2t"] == 1.0 and res["subsets"]["replace"]["t2i"] == 0.5
    assert res["subsets"]["replace"]["n"] == 2 and res["subsets"]["add"]["t2i"] == 1.0
    assert res["per_subtype"]["replace_att"] == {**{k: float(v) for k, v in
                                                   {"i2t": 1, "t2i": 0, "group": 0, "ipos_2t": 1, "ineg_2t": 1, "tpos_2i": 0, "tneg_2i": 1}.items()}, "n": 1}


def test_save_to_disk_engine_and_errors(tmp_path):
    write_saved_split(tmp_path / "saved", "test", _rows(3))
    bench = get_benchmark("bivlc")
    res = evaluate(FakeEncoder(), bench, tmp_path / "saved", progress=False)
    assert res.results["n_items"] == 3 and res.results["metrics"]["group"] <= res.results["metrics"]["i2t"]
    with pytest.raises(DataError, match="no validation split"):
        bench.load(tmp_path / "saved", split="validation")
    rows = _rows(2)
    del rows[0]["subtype"], rows[1]["subtype"]
    write_parquet(tmp_path / "bad" / "test.parquet", rows)
    with pytest.raises(DataError, match=r"test.parquet \(field 'subtype'\): missing column"):
        bench.load(tmp_path / "bad")
    rows = _rows(2)
    rows[1]["negative_caption"] = ""
    write_parquet(tmp_path / "bad" / "test.parquet", rows)
    with pytest.raises(DataError, match=r"test.parquet \(field '\[1\].negative_caption'\): empty string"):
        bench.load(tmp_path / "bad")
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match="not a bivlc folder"):
        bench.load(tmp_path / "empty")
    write_parquet(tmp_path / "cs" / "test.parquet", [{"id": 0, "image_1": png_bytes((1, 2, 3)), "image_2": png_bytes((3, 2, 1)),
                                                       "caption_1": "a", "caption_2": "b"}])
    with pytest.raises(DataError, match=r"not a bivlc folder \(it looks like a colorswap folder"):
        bench.load(tmp_path / "cs")
